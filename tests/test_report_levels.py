"""``reports: full | summary | none`` (issue 11)."""

from __future__ import annotations

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
