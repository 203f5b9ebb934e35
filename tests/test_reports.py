"""Tests of megara_crplugin.reports: files, tables, figures, HTML, progress, logging."""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import SEEDS_MM, TRIPLE_HIT, make_fake_result

from megara_crplugin.reports import (
    RichProgress,
    draw_target_diagnostic,
    plot_flux_factor,
    plot_histogram2d,
    save_record,
    setup_logging,
    write_feature_pdfs,
    write_feature_tables,
    write_problematic_reports,
    write_reports,
)
from megara_crplugin.reports._common import atomic_path, cutout_window
from megara_crplugin.reports._targetfigs import _binned_for_display
from megara_crplugin.reports.figures import image_number_at_median, target_boundary
from megara_crplugin.reports.html import render_html_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RecordingProgress:
    """Progress stub that records phases and advances."""

    def __init__(self):
        self.phases = []

    def phase(self, name, total=None):
        from contextlib import contextmanager

        @contextmanager
        def cm():
            entry = {"name": name, "total": total, "done": 0}
            self.phases.append(entry)

            def advance(n=1):
                entry["done"] += n

            yield advance

        return cm()


def pdf_pages(path: Path) -> int:
    """Number of pages of a PDF written by matplotlib."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    return len(re.findall(rb"/Type /Page\b", data))


def read_csv(path: Path) -> list[dict[str, int]]:
    with path.open(newline="") as fh:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def png_shape(path: Path) -> tuple[int, ...]:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path).shape


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fake():
    return make_fake_result()


@pytest.fixture(scope="module")
def fake_aux():
    return make_fake_result(mm=False, flux=False, offsets=False)


@pytest.fixture(scope="module")
def mm_run(tmp_path_factory, fake):
    out = tmp_path_factory.mktemp("mm")
    progress = RecordingProgress()
    written = write_reports(fake, out, progress=progress)
    return out, written, progress


@pytest.fixture(scope="module")
def aux_run(tmp_path_factory, fake_aux):
    out = tmp_path_factory.mktemp("aux")
    return out, write_reports(fake_aux, out, html=False)


EXPECTED_MM = {
    "image_number_at_median_position.png",
    *(f"flux_factor{i}.png" for i in (1, 2, 3)),
    *(f"xyoffset_crosscorr_{i}.png" for i in (1, 2, 3)),
    "diagnostic_histogram2d.png",
    "diagnostic_mediancr.png",
    "diagnostic_meancr.png",
    *(f"diagnostic_crmask{i}.png" for i in (1, 2, 3)),
    *(
        f"mediancr_identified_{c}.{e}"
        for c in ("any4", "only3", "only2", "other")
        for e in "csv pdf".split()
    ),
    "problematic_pixels.csv",
    "problematic_pixels.pdf",
    "report.html",
}


# --------------------------------------------------------------------------- write_reports


class TestWriteReports:
    def test_writes_exactly_the_expected_files(self, mm_run):
        """Every file of the spec 7.1 table that applies, nothing else, no temp left."""
        out, written, _ = mm_run
        assert {p.name for p in written} == EXPECTED_MM
        assert len(written) == len(EXPECTED_MM)
        assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED_MM)

    def test_pngs_are_valid_with_documented_size(self, mm_run):
        """PNG files decode; the MEDIANCR figure is 12x8 in at 150 dpi."""
        out, written, _ = mm_run
        for path in (p for p in written if p.suffix == ".png"):
            assert len(png_shape(path)) == 3
        assert png_shape(out / "diagnostic_mediancr.png")[:2] == (1200, 1800)

    def test_two_pdf_pages_per_feature(self, mm_run, fake):
        """Each category PDF holds two pages for each of its features (maxplots -1)."""
        out, _, _ = mm_run
        for category in ("any4", "only3", "only2", "other"):
            n = sum(f.category == category for f in fake.features)
            assert n == 1
            assert pdf_pages(out / f"mediancr_identified_{category}.pdf") == 2 * n

    def test_progress_advances_sum_to_total(self, mm_run):
        """One 'plots' phase whose advances add up to its announced total."""
        _, written, progress = mm_run
        assert [p["name"] for p in progress.phases] == ["plots"]
        phase = progress.phases[0]
        n_png = sum(p.suffix == ".png" for p in written)
        assert phase["total"] == phase["done"] == n_png + 2 * 4 + 1

    def test_aux_only_method_writes_all_but_the_mm_histogram(self, aux_run, fake_aux):
        """Defect 4: lacosmic-only results give figures and feature pages, no crash."""
        out, written = aux_run
        names = {p.name for p in written}
        assert "diagnostic_histogram2d.png" not in names
        assert "report.html" not in names
        assert {"diagnostic_mediancr.png", "mediancr_identified_only3.pdf"} <= names
        assert all(f.category == "only3" for f in fake_aux.features)
        assert pdf_pages(out / "mediancr_identified_only3.pdf") == 2 * len(fake_aux.features)

    def test_rejects_a_non_result_before_writing(self, tmp_path):
        """A wrong result type is refused and nothing is created."""
        target = tmp_path / "out"
        with pytest.raises(TypeError, match="result must be a CRMaskResult whose targets"):
            write_reports(object(), target)
        assert not target.exists()

    def test_rejects_a_file_as_output_dir(self, tmp_path, fake):
        """output_dir pointing to a file is refused with its name."""
        path = tmp_path / "afile"
        path.write_text("x")
        with pytest.raises(NotADirectoryError, match="output_dir .*afile.* is not a directory"):
            write_reports(fake, path)


# --------------------------------------------------------------------------- tables


class TestTables:
    def test_one_row_per_mediancr_pixel(self, mm_run, fake):
        """The four CSVs together list every MEDIANCR pixel exactly once."""
        out, _, _ = mm_run
        rows = []
        for category in ("any4", "only3", "only2", "other"):
            rows += read_csv(out / f"mediancr_identified_{category}.csv")
        mask = fake.targets["MEDIANCR"].mask
        assert len(rows) == int(mask.sum())
        coords = {(r["Y_pixel"] - 1, r["X_pixel"] - 1) for r in rows}
        assert coords == set(zip(*np.nonzero(mask), strict=True))

    def test_fits_coordinates_and_codes(self, mm_run):
        """Hand-placed detections appear at X = x + 1, Y = y + 1 with their code."""
        out, _, _ = mm_run
        any4 = read_csv(out / "mediancr_identified_any4.csv")
        other = read_csv(out / "mediancr_identified_other.csv")
        y, x, code = SEEDS_MM[0]
        assert {"X_pixel": x + 1, "Y_pixel": y + 1, "Mask_value": code} in [
            {k: r[k] for k in ("X_pixel", "Y_pixel", "Mask_value")} for r in any4
        ]
        assert sorted(r["Mask_value"] for r in other) == [1] * 10 + [2, 3]

    def test_maxplots_limits_pages_not_tables(self, tmp_path):
        """Defect 16: maxplots=1 draws one feature but the CSVs keep all of them."""
        result = make_fake_result(maxplots=1, flux=False, offsets=False)
        tables = write_feature_tables(result, tmp_path)
        pdfs = write_feature_pdfs(result, tmp_path, maxplots=1)
        first = result.features[0]
        assert [p.name for p in pdfs] == [f"mediancr_identified_{first.category}.pdf"]
        assert pdf_pages(pdfs[0]) == 2
        n_rows = sum(len(read_csv(p)) for p in tables)
        assert n_rows == int(result.targets["MEDIANCR"].mask.sum())

    def test_no_tables_when_mediancr_is_empty(self, tmp_path):
        """An empty MEDIANCR writes no feature table (spec 5.1 item 4)."""
        result = make_fake_result(flux=False, offsets=False)
        det = result.targets["MEDIANCR"]
        det.mask[:] = False
        det.code[:] = 0
        result.features = []
        assert write_feature_tables(result, tmp_path) == []
        assert write_feature_pdfs(result, tmp_path) == []

    def test_problematic_pixels(self, mm_run, fake):
        """Problematic CSV lists each pixel masked in every CRMASKi; Mask_value = MEDIANCR code."""
        out, _, _ = mm_run
        rows = read_csv(out / "problematic_pixels.csv")
        assert len(rows) == int(fake.problematic.sum()) == 9
        assert {r["CR_number"] for r in rows} == {1}
        ty, tx = TRIPLE_HIT
        hit = [r for r in rows if (r["X_pixel"], r["Y_pixel"]) == (tx + 1, ty + 1)]
        assert hit and hit[0]["Mask_value"] == 0
        assert pdf_pages(out / "problematic_pixels.pdf") == 1

    def test_problematic_maxplots_zero_keeps_csv(self, tmp_path, fake):
        """maxplots 0: the problematic CSV is written, the PDF is not."""
        written = write_problematic_reports(fake, tmp_path, maxplots=0)
        assert [p.name for p in written] == ["problematic_pixels.csv"]


# --------------------------------------------------------------------------- figures


class TestFigures:
    def test_target_panels_and_density_invariant(self, fake):
        """Panels (a)-(d) are reachable; the density image counts every clean pixel."""
        panels = draw_target_diagnostic(fake, "MEDIANCR")
        code = fake.targets["MEDIANCR"].code
        assert panels.suspected.code.size == int((code > 0).sum())
        density = panels.artists["density"].get_array()
        assert int(density.sum()) == code.size - int((code > 0).sum())
        assert panels.diagram.get_shared_x_axes().joined(panels.diagram, panels.numbers)
        assert panels.image.get_shared_x_axes().joined(panels.image, panels.reference)
        assert "boundary" in panels.artists and "threshold" in panels.artists
        numbers = sorted(int(t.get_text()) for t in panels.numbers.texts)
        assert numbers == [1, 1, 1, 2, 2]  # MM only: 2, Aux only: 2, both: 1

    def test_given_figure_is_cleared_and_reused(self, fake):
        """Drawing twice into one figure leaves exactly the four panels and three colour bars."""
        first = draw_target_diagnostic(fake, "MEANCRT")
        again = draw_target_diagnostic(fake, "CRMASK2", fig=first.figure)
        assert again.figure is first.figure
        labels = [ax.get_label() for ax in again.figure.axes]
        assert labels.count("<colorbar>") == 3  # density (a), images (c) and (d)
        assert len(labels) == 7

    def test_aux_only_has_no_boundary(self, fake_aux):
        """Defect 4: the diagnostic works without boundary and draws none."""
        panels = draw_target_diagnostic(fake_aux, "MEDIANCR")
        assert "boundary" not in panels.artists
        with pytest.raises(ValueError, match="result.histogram and result.boundary are None"):
            plot_histogram2d(fake_aux)

    def test_secondary_boundaries_per_target(self, fake):
        """MEANCRT/CRMASKi use extras['boundaries'] when present; MEANCR none."""
        mean_b, frame_b = object(), object()
        fake.extras["boundaries"] = {"mean": mean_b, "frame": frame_b}
        try:
            assert target_boundary(fake, "MEDIANCR") is fake.boundary
            assert target_boundary(fake, "MEANCRT") is mean_b
            assert target_boundary(fake, "CRMASK3") is frame_b
            assert target_boundary(fake, "MEANCR") is None
        finally:
            del fake.extras["boundaries"]

    def test_unknown_target_name(self, fake):
        """An unknown target name is refused with the valid ones."""
        with pytest.raises(ValueError, match=r"name must be one of \['MEDIANCR'"):
            draw_target_diagnostic(fake, "CRMASK9")

    def test_flux_factor_without_fit_details(self, fake):
        """Pipeline-style diagnostics (empty points, no curves/modes) still plot."""
        diag = dict(fake.extras["flux_factor"][0])
        diag.update(points=[np.empty(0), np.empty(0)], curves=None, modes=None)
        saved = fake.extras["flux_factor"]
        fake.extras["flux_factor"] = [diag, diag, diag]
        try:
            fig = plot_flux_factor(fake, 2)
            assert len(fig.axes) == 4  # two panels and their colour bars
        finally:
            fake.extras["flux_factor"] = saved
        with pytest.raises(ValueError, match=r"exposure must be an integer in 1\.\.3, got 4"):
            plot_flux_factor(fake, 4)

    @pytest.mark.parametrize("n", [3, 5])
    def test_image_number_at_median_matches_stable_sort(self, n):
        """Rank counting equals a stable argsort, ties included."""
        rng = np.random.default_rng(7)
        stack = rng.integers(0, 3, size=(n, 40, 30)).astype(np.float32)
        expected = np.argsort(stack, axis=0, kind="stable")[n // 2] + 1
        np.testing.assert_array_equal(image_number_at_median(stack, chunk_rows=9), expected)

    def test_display_binning_of_large_frames(self):
        """A MEGARA-sized frame is shown in 3x3 block means; small frames untouched."""
        image = np.arange(4112 * 4096, dtype=np.float32).reshape(4112, 4096)
        shown, factor = _binned_for_display(image, full_resolution=False)
        assert factor == 3 and shown.shape == (1370, 1365)
        assert shown[0, 0] == pytest.approx(image[:3, :3].mean())
        assert _binned_for_display(image, full_resolution=True)[1] == 1
        assert _binned_for_display(image[:900, :1000], full_resolution=False)[1] == 1

    def test_cutout_window_is_clipped(self):
        """The cut-out is centred on the rounded centroid and clipped to the frame."""
        assert cutout_window((2.4, 50.6), 5, (60, 80)) == (0, 8, 46, 57)
        assert cutout_window((59.0, 79.0), 5, (60, 80)) == (54, 60, 74, 80)


# --------------------------------------------------------------------------- html and files


class TestHtmlAndFiles:
    def test_report_links_every_file_with_counts(self, mm_run, fake):
        """report.html links each written file and states the MEDIANCR count."""
        out, written, _ = mm_run
        text = (out / "report.html").read_text()
        for path in written[:-1]:
            assert f'href="{path.name}"' in text
        assert f"<td>{int(fake.targets['MEDIANCR'].mask.sum())}</td>" in text

    def test_html_escapes_text(self, fake):
        """Text from the result is escaped."""
        original = fake.uuid
        fake.uuid = "<script>alert(1)</script>"
        try:
            text = render_html_report(fake, [])
        finally:
            fake.uuid = original
        assert "<script>" not in text and "&lt;script&gt;" in text

    def test_atomic_path_leaves_nothing_on_failure(self, tmp_path):
        """A failed write leaves neither the final file nor the temporary one."""
        target = tmp_path / "x.png"
        with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
        assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- progress and logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


class TestProgressAndLogging:
    def test_phases_record_timings_and_render(self):
        """Nested phases are timed and drawn with their counts."""
        from rich.console import Console

        console = Console(file=io.StringIO(), record=True, width=100, force_terminal=True)
        progress = RichProgress(console=console)
        with progress.phase("simulations", total=3) as advance:
            for _ in range(3):
                advance()
            with progress.phase("boundary") as advance_inner:
                advance_inner(2)
        assert set(progress.timings) == {"simulations", "boundary"}
        text = console.export_text()
        assert "simulations" in text and "3/3" in text and "2/2" in text
        assert not progress._progress.live.is_started

    def test_phase_stops_display_on_error(self):
        """An exception inside a phase propagates and stops the live display."""
        from rich.console import Console

        progress = RichProgress(console=Console(file=io.StringIO()))
        with pytest.raises(KeyError), progress.phase("masks", total=2):
            raise KeyError("x")
        assert not progress._progress.live.is_started
        assert "masks" in progress.timings

    def test_phase_rejects_bad_total(self):
        """total must be a non-negative integer or None."""
        with pytest.raises(ValueError, match="total must be a non-negative integer or None"):
            with RichProgress(disable=True).phase("x", total=-1):
                pass

    def test_setup_logging_installs_one_handler(self, restore_root_logger):
        """Two calls leave one RichHandler; the level and recording are applied."""
        setup_logging("info", record=False)
        console = setup_logging("WARNING", record=True)
        root = logging.getLogger()
        marked = [h for h in root.handlers if getattr(h, "_megara_crplugin_handler", False)]
        assert len(marked) == 1 and root.level == logging.WARNING
        logging.getLogger("megara_crplugin.test").warning("hello from the test")
        assert "hello from the test" in console.export_text(clear=False)

    def test_setup_logging_rejects_unknown_level(self):
        """An unknown level names the accepted ones."""
        with pytest.raises(ValueError, match="level must be one of DEBUG, INFO, WARNING"):
            setup_logging("VERBOSE", record=False)

    def test_save_record(self, tmp_path):
        """The recorded text goes to terminal_output.txt inside a directory."""
        from rich.console import Console

        console = Console(file=io.StringIO(), record=True)
        console.print("line one")
        path = save_record(console, tmp_path)
        assert path == tmp_path / "terminal_output.txt"
        assert path.read_text() == "line one\n"
        with pytest.raises(ValueError, match="console does not record"):
            save_record(Console(file=io.StringIO()), tmp_path)
        with pytest.raises(ValueError, match="does not exist"):
            save_record(console, tmp_path / "missing" / "t.txt")


# --------------------------------------------------------------------------- real pipeline


@pytest.mark.slow
def test_reports_of_a_real_compute_crmasks_run(tmp_path):
    """compute_crmasks on a small synthetic triplet: every report file is valid."""
    synthetic = pytest.importorskip("megara_crplugin.synthetic")
    pipeline = pytest.importorskip("megara_crplugin.pipeline")
    sset = synthetic.make_megara_like_frames((120, 160), seed=3, n_double_hits=6)
    params = {
        "gain": 1.0,
        "rnoise": 3.4,
        "bias": 0.0,
        "crmethod": "mmcosmic",
        "mm_seed": 1234,
        "dilation": 1,
        "interactive": False,
        "maxplots": 2,
    }
    result = pipeline.compute_crmasks(list(sset.frames), params)
    written = write_reports(result, tmp_path)
    names = {p.name for p in written}
    expected_png = {"diagnostic_histogram2d.png", "diagnostic_mediancr.png"}
    expected_png |= {"diagnostic_meancr.png"} | {f"diagnostic_crmask{i}.png" for i in (1, 2, 3)}
    assert expected_png <= names
    for path in written:
        assert path.is_file() and path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_SIGNATURE
    mask = result.targets["MEDIANCR"].mask
    assert mask.any(), "the designed double hits should give MEDIANCR pixels"
    csvs = [p for p in written if p.suffix == ".csv" and p.name.startswith("mediancr")]
    assert len(csvs) == 4
    assert sum(len(read_csv(p)) for p in csvs) == int(mask.sum())
    pages = sum(
        pdf_pages(p) for p in written if p.name.startswith("mediancr") and p.suffix == ".pdf"
    )
    assert pages == 2 * min(2, len(result.features))


def test_progress_import_does_not_load_matplotlib():
    """The CLI can set up logging and progress without importing matplotlib."""
    import subprocess
    import sys

    code = (
        "import sys; from megara_crplugin.reports import setup_logging, RichProgress, "
        "write_reports; print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
