"""report.html of a whole YAML run: inputs, version, date, parameters, product links, captions."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import yaml
from astropy.io import fits

from megara_crplugin._version import __version__
from megara_crplugin.cli import main
from megara_crplugin.config import COMBINATIONS
from megara_crplugin.reports._report_parts import caption
from megara_crplugin.synthetic import make_megara_like_frames


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    sset = make_megara_like_frames((96, 96), seed=5, n_double_hits=4)
    names = []
    for i, frame in enumerate(sset.frames, start=1):
        name = f"night_exp{i}.fits"
        fits.PrimaryHDU(np.asarray(frame, np.float32)).writeto(folder / name)
        names.append(name)
    params = {
        "images": names,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": float(sset.bias),
        "requirements": {
            "crmethod": "mmcosmic",
            "interactive": False,
            "mm_nsimulations": 2,
            "maxplots": 0,
        },
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    out = folder / "out"
    assert main([str(folder / "params.yaml"), "--output_dir", str(out)]) == 0
    return out, names, (out / "report.html").read_text()


def test_report_names_inputs_version_date(report_run):
    out, names, text = report_run
    for name in names:
        assert name in text
    assert f"megara_crplugin {__version__}" in text
    assert re.search(r"report date \(UTC\)</td><td class=\"l\">20\d\d-\d\d-\d\dT", text)


def test_report_lists_parameters_with_changes_in_bold(report_run):
    _, _, text = report_run
    assert '<td class="l">mm_nsimulations</td><td class="l"><b>2</b></td>' in text
    assert '<td class="l">dilation</td><td class="l">1</td>' in text  # the default


def test_report_links_the_products_and_they_exist(report_run):
    out, _, text = report_run
    links = {unquote(h) for h in re.findall(r'href="([^"]+)"', text)}
    expected = {"crmasks.fits", *(f"combined_{m}.fits" for m in COMBINATIONS)}
    assert expected <= links
    for link in links:
        assert (out / link).is_file(), link


def test_report_captions_describe_the_figures(report_run):
    out, _, text = report_run
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", text)
    assert captions, "no figure in the report"
    for cap in captions:
        name = re.match(r"<b>(.*?)</b>: (.*)", cap)
        assert name and len(name.group(2)) > 40, cap
    assert "M.M.Cosmic diagram" in text
    assert caption("diagnostic_crmask2.png").startswith("Exposure 2 (CRMASK2)")
    assert Path(out / "diagnostic_histogram2d.png").is_file()
