"""Self-test (issue 9, item 6): file contract, honesty against the generator's truth, CLI."""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from megara_crplugin.cli import main
from megara_crplugin.config import validate_parameters
from megara_crplugin.masks import dilate
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.selftest import InjectedEvent, run_selftest, score_events
from megara_crplugin.selftest_output import CSV_COLUMNS, csv_text, write_outputs
from megara_crplugin.synthetic import make_megara_like_frames, write_frames

FAST = {"crmethod": "mmcosmic", "interactive": False, "mm_nsimulations": 3, "mm_seed": 1}


@pytest.fixture(autouse=True)
def _logging_preserved():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture(scope="module")
def small():
    sset = make_megara_like_frames((192, 192), seed=11, n_double_hits=5, bias=100.0)
    cfg = validate_parameters(
        {**FAST, "gain": sset.gain, "rnoise": sset.rnoise, "bias": sset.bias},
        n_images=3,
        shape=sset.shape,
    )
    frames = [f.copy() for f in sset.frames]
    result = run_selftest(frames, cfg, n_events=40, n_double=15, seed=3)
    return sset, cfg, frames, result


def test_csv_contract(small):
    sset, _, frames, result = small
    rows = list(csv.DictReader(csv_text(result).splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 40
    assert sorted({r["kind"] for r in rows}) == ["double", "single"]
    assert sum(r["kind"] == "double" for r in rows) == 15
    ny, nx = sset.shape
    for row, ev in zip(rows, result.events, strict=True):
        frames_hit = [int(f) for f in row["frames"].split()]
        assert len(frames_hit) == (2 if row["kind"] == "double" else 1)
        assert all(1 <= f <= 3 for f in frames_hit)
        x, y = int(row["x"]), int(row["y"])
        assert 1 <= x <= nx and 1 <= y <= ny
        # (x, y) is FITS 1-based: the brightest injected pixel of the weaker hit
        k = int(np.argmax(ev.flux.min(axis=0)))
        assert (y - 1, x - 1) == (ev.ys[k], ev.xs[k])
        assert 2.0 <= float(row["amplitude_sigma"]) <= 300.0
        ratio = float(row["amplitude_adu"]) / float(row["sigma_adu"])
        assert ratio == pytest.approx(float(row["amplitude_sigma"]), rel=2e-3)
        assert row["detected"] in ("0", "1")
        expected = "MEDIANCR" if row["kind"] == "double" else f"CRMASK{frames_hit[0]}"
        assert row["target"] == expected
    # the brightest events are found, the faintest mostly not: the scoring is not constant
    amp = np.array([float(r["amplitude_sigma"]) for r in rows])
    det = np.array([r["detected"] == "1" for r in rows])
    assert det[amp > 50].all() and det[amp < 5].mean() < 0.6


def test_frames_untouched(small):
    sset, _, frames, _ = small
    for a, b in zip(frames, sset.frames, strict=True):
        np.testing.assert_array_equal(a, b)


def _truth_events(sset, masks):
    """Generator events as InjectedEvent (isolated ones only), scored like the self-test."""
    sigma = np.sqrt(np.maximum(sset.signal, 0) / sset.gain + sset.rnoise**2)
    areas = []
    for ev in sset.events:
        m = np.zeros(sset.shape, bool)
        m[ev.ys, ev.xs] = True
        areas.append(dilate(m, 1))
    crowd = np.sum(areas, axis=0)
    out = []
    for ev, area in zip(sset.events, areas, strict=True):
        if len(ev.frames) > 2 or (crowd[area] > 1).any():
            continue
        weak = ev.amplitudes.min(axis=0)
        k = int(np.argmax(weak))
        sig = float(sigma[ev.ys[k], ev.xs[k]])
        kind = "double" if len(ev.frames) == 2 else "single"
        out.append(
            InjectedEvent(kind, "x", ev.frames, ev.ys, ev.xs, ev.amplitudes, weak[k] / sig, sig, 0)
        )
    detected, _, _ = score_events(out, masks, sset.n_frames)
    return out, detected


def _recall(events, detected, kind, lo, hi, *, weighted=False):
    """(events, recall) of ``kind`` in ``[lo, hi)``; optionally weighted by amplitude."""
    amp = np.array([e.amplitude_sigma for e in events if e.kind == kind])
    det = np.asarray(detected)[[e.kind == kind for e in events]]
    sel = (amp >= lo) & (amp < hi)
    weight = amp[sel] if weighted else np.ones(int(sel.sum()))
    return int(sel.sum()), float(np.sum(weight * det[sel]) / max(np.sum(weight), 1e-300))


@pytest.mark.slow
def test_selftest_recall_agrees_with_generator_truth():
    """Per amplitude bin the self-test's recall is within 5 points of the true recall.

    The generator's designed double hits are faint (weaker hit uniform in 2-5
    sigma: the median barely raised, recall about 10 %) or bright (>= 8 sigma),
    single pixels or small blobs; its random single hits are 50-10000 e-.
    The self-test injects pixels and blobs, amplitudes log-uniform in 2-300
    sigma, into the same frames.  In the faint bin the recall rises steeply
    with amplitude, so the self-test events are weighted by their amplitude
    (uniform / log-uniform density) to describe the generator's amplitude
    distribution; the other bins are flat.  Every bin holds >= 60 events of
    each population.
    """
    sset = make_megara_like_frames(
        (512, 512), seed=5, n_double_hits=600, faint_fraction=0.6, bias=100.0
    )
    params = {"interactive": False, "gain": sset.gain, "rnoise": sset.rnoise, "bias": sset.bias}
    cfg = validate_parameters(params, n_images=3, shape=sset.shape)
    base = compute_crmasks(list(sset.frames), cfg).masks
    truth, truth_det = _truth_events(sset, base)
    st = run_selftest(
        list(sset.frames),
        cfg,
        n_events=1100,
        n_double=800,
        seed=2,
        footprints=("pixel", "blob"),
        base_masks=base,
    )
    for kind, lo, hi, weighted in (
        ("double", 2, 5, True),
        ("double", 8, 300, False),
        ("single", 20, 300, False),
    ):
        n_t, rec_t = _recall(truth, truth_det, kind, lo, hi)
        n_s, rec_s = _recall(st.events, st.detected, kind, lo, hi, weighted=weighted)
        assert n_t >= 60 and n_s >= 60, (kind, lo, hi, n_t, n_s)
        msg = f"{kind} [{lo}, {hi}): truth {rec_t:.3f} of {n_t}, self-test {rec_s:.3f} of {n_s}"
        print(msg)
        assert abs(rec_t - rec_s) <= 0.05, msg


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("selftest_inputs")
    sset = make_megara_like_frames((160, 160), seed=4, n_double_hits=3, bias=100.0)
    paths = write_frames(sset, folder / "frames", prefix="f")
    data = {
        "images": [str(p.relative_to(folder)) for p in paths],
        "extnum": 0,
        "gain": sset.gain,
        "rnoise": sset.rnoise,
        "bias": sset.bias,
        "requirements": {**FAST, "maxplots": 0},
    }
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_cli_writes_the_files_and_prints_the_recall(params_file, tmp_path, capsys):
    before = _digest(params_file.parent)
    out = tmp_path / "st"
    assert main(["selftest", str(params_file), "--output_dir", str(out), "--events", "30"]) == 0
    printed = capsys.readouterr().out
    assert "double" in printed and "single" in printed and "unexplained detections" in printed
    assert sorted(p.name for p in out.iterdir()) == ["selftest.csv", "selftest.png"]
    assert (out / "selftest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((out / "selftest.csv").read_text().splitlines()))
    assert len(rows) == 30
    assert _digest(params_file.parent) == before  # inputs only read

    # a second run refuses to overwrite, with one line, before any computation
    digest = _digest(out)
    argv = ["selftest", str(params_file), "--output_dir", str(out), "--events", "30"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "selftest.csv already exists" in err and str(out) in err
    assert _digest(out) == digest


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--events", "0"], "--events"),
        (["--events", "10", "--doubles", "11"], "--doubles"),
    ],
)
def test_cli_bad_counts_are_one_line(params_file, tmp_path, capsys, extra, needle):
    out = tmp_path / "st"
    assert main(["selftest", str(params_file), "--output_dir", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not out.exists()


def test_cli_missing_parameter_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["selftest", str(missing), "--output_dir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err
    assert not (tmp_path / "o").exists()


def test_write_outputs_never_overwrites(small, tmp_path):
    *_, result = small
    (tmp_path / "selftest.png").write_bytes(b"user file")
    with pytest.raises(FileExistsError, match="selftest.png already exists"):
        write_outputs(result, tmp_path)
    assert (tmp_path / "selftest.png").read_bytes() == b"user file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["selftest.png"]


@pytest.mark.slow
def test_recipe_selftest_option_writes_the_files(tmp_path, monkeypatch):
    """MegaraCrDetection with ``selftest: N`` writes the same files into the results folder."""
    pytest.importorskip("megaradrp")
    import numina_helpers as nh
    from numina.core import DataFrame

    from megara_crplugin.numina.recipes import CrDetectionRecipe, RecipeInputError

    data = tmp_path / "data"
    sset = nh.synthetic_set(3, n_single=20, n_double=3)
    names, _ = nh.write_raw_set(data, sset)
    nh.master_bias().writeto(data / "master_bias.fits")
    results = tmp_path / "results"
    results.mkdir()

    def run(count):
        recipe = CrDetectionRecipe()
        recipe.runinfo["results_dir"] = str(results)
        rinput = recipe.create_input(
            obresult=nh.observation_result(data, names, "MegaraCrDetection"),
            master_bias=DataFrame(filename=str(data / "master_bias.fits")),
            **{**FAST, "mm_nsimulations": 2, "maxplots": 0},
            selftest=count,
        )
        return recipe.run(rinput)

    monkeypatch.chdir(tmp_path)
    run(25)
    assert sorted(p.name for p in results.iterdir()) == ["selftest.csv", "selftest.png"]
    rows = list(csv.DictReader((results / "selftest.csv").read_text().splitlines()))
    assert len(rows) == 25 and {r["kind"] for r in rows} == {"single", "double"}
    digest = _digest(results)
    with pytest.raises(RecipeInputError, match="selftest.csv already exists"):
        run(25)
    assert _digest(results) == digest
