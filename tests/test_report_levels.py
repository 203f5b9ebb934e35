"""``reports: full | summary | none`` (issue 11)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from report_fixtures import make_fake_result

from megara_crplugin.config import ConfigError, validate_parameters
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.reports import SUMMARY_FIGURES, write_reports
from megara_crplugin.synthetic import make_megara_like_frames


def test_summary_writes_the_diagrams_tables_and_html_only(tmp_path):
    fake = make_fake_result()
    full = {p.name for p in write_reports(fake, tmp_path / "full")}
    summary = write_reports(fake, tmp_path / "summary", level="summary")
    names = {p.name for p in summary}
    assert names == {n for n in full if n in SUMMARY_FIGURES or n.endswith((".csv", ".html"))}
    assert SUMMARY_FIGURES <= names and "report.html" in names
    assert not any(n.endswith(".pdf") for n in names)
    assert sorted(p.name for p in (tmp_path / "summary").iterdir()) == sorted(names)
    html = (tmp_path / "summary" / "report.html").read_text()
    assert "diagnostic_crmask1.png" not in html and "diagnostic_mediancr.png" in html


def test_unknown_level_is_rejected_before_writing(tmp_path):
    with pytest.raises(ValueError, match="level must be"):
        write_reports(make_fake_result(), tmp_path / "x", level="some")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_schema_default_and_choices():
    assert validate_parameters({}).reports == "summary"
    assert validate_parameters({"reports": "none"}).reports is None  # no reports
    with pytest.raises(ConfigError, match="reports"):
        validate_parameters({"reports": "all"})
    with pytest.raises(ConfigError, match="jobs"):
        validate_parameters({"jobs": -1})


def test_pipeline_reports_none_writes_nothing(tmp_path):
    sset = make_megara_like_frames((64, 96), seed=1, n_double_hits=2)
    params = {"crmethod": "mmcosmic", "gain": 1.0, "rnoise": 3.4, "bias": 0.0}
    params |= {"mm_seed": 3, "mm_nsimulations": 2, "reports": "none"}
    result = compute_crmasks(list(sset.frames), params, output_dir=tmp_path / "r")
    assert result.targets["MEDIANCR"].mask.dtype == np.bool_
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_a_summary_needs_none_of_the_dropped_arrays(tmp_path):
    # the forked reports child drops what a summary never reads (drop_unreported)
    # to free memory beside the combinations: the files must not change
    from megara_crplugin.reports import drop_unreported

    sset = make_megara_like_frames((96, 128), seed=2, n_double_hits=3)
    params = {"crmethod": "mm_pycosmic", "gain": 1.0, "rnoise": 3.4, "bias": 0.0}
    params |= {"mm_seed": 3, "mm_nsimulations": 2, "interactive": False}
    result = compute_crmasks(list(sset.frames), params)
    assert result.targets["MEDIANCR"].mask.any()  # tables and the MEDIANCR diagram are drawn
    before = write_reports(result, tmp_path / "run_one", level="summary")
    drop_unreported(result)
    assert result.auxclean is None and result.targets["CRMASK1"].code is None
    after = write_reports(result, tmp_path / "run_two", level="summary")
    assert [p.name for p in after] == [p.name for p in before]
    for old, new in zip(before, after, strict=True):
        if old.suffix == ".html":  # names its folder and the time it was written

            def text(path, folder):
                stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+\d:]*"
                return re.sub(stamp, "", path.read_text().replace(folder, ""))

            assert text(new, "run_two") == text(old, "run_one")
        else:
            assert new.read_bytes() == old.read_bytes(), old.name


@pytest.mark.parametrize("forked", [True, False])
def test_the_reports_beside_the_combinations_leave_the_result_whole(tmp_path, monkeypatch, forked):
    # only a forked child drops arrays (its own copy); in a thread (no fork on
    # this platform) the result is the parent's and must stay whole
    from megara_crplugin import _background
    from megara_crplugin.yaml_job import _reports_in_background

    if not forked:
        monkeypatch.setattr(_background, "fork_context", lambda: None)
    elif _background.fork_context() is None:
        pytest.skip("no fork on this platform")
    sset = make_megara_like_frames((64, 96), seed=1, n_double_hits=2)
    params = {"crmethod": "mm_pycosmic", "gain": 1.0, "rnoise": 3.4, "bias": 0.0}
    params |= {"mm_seed": 3, "mm_nsimulations": 2, "interactive": False}
    result = compute_crmasks(list(sset.frames), params)
    written = _reports_in_background(result, tmp_path, "summary").result()
    assert "report.html" in {p.name for p in written}
    assert result.auxclean is not None
    assert all(det.code is not None for det in result.targets.values())
