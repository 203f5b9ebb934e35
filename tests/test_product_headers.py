"""Combined products keep the first input's header, with units and provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from megara_crplugin._version import __version__
from megara_crplugin.cli import main
from megara_crplugin.config import COMBINATIONS
from megara_crplugin.provenance import COMBINED_KEYS, combined_header, is_combined_product
from megara_crplugin.synthetic import make_megara_like_frames

#: Keys of the inputs that every combined image must keep.
KEPT = {
    "OBJECT": "NGC 7469",
    "DATE-OBS": "2026-11-30T22:01:02.5",
    "CTYPE1": "RA---TAN",
    "CRPIX1": 64.0,
    "CRVAL1": 345.8151,
    "CDELT1": -0.0001,
    "INSTRUME": "MEGARA",
}


def _write_inputs(folder: Path, n: int = 3) -> list[Path]:
    sset = make_megara_like_frames((96, 96), seed=3, n_double_hits=4)
    paths = []
    for i, frame in enumerate(sset.frames[:n], start=1):
        header = fits.Header()
        for key, value in KEPT.items():
            header[key] = value
        header["EXPTIME"] = 900.0 + i  # distinguishes the first input's value
        header["BUNIT"] = "electron"
        path = folder / f"exp{i}.fits"
        fits.PrimaryHDU(np.asarray(frame, np.float32), header=header).writeto(path)
        paths.append(path)
    return paths, sset


@pytest.fixture(scope="module")
def yaml_run(tmp_path_factory):
    """One YAML-form run (no reports) on three headed 96x96 frames."""
    folder = tmp_path_factory.mktemp("headers")
    paths, sset = _write_inputs(folder)
    params = {
        "images": [p.name for p in paths],
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": float(sset.bias),
        "requirements": {"crmethod": "mmcosmic", "interactive": False, "mm_nsimulations": 2},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    out = folder / "out"
    status = main([str(folder / "params.yaml"), "--output_dir", str(out), "--no-reports"])
    assert status == 0
    return folder, out, paths


def test_every_combined_image_keeps_the_first_header(yaml_run):
    """OBJECT, DATE-OBS, WCS, INSTRUME, BUNIT, EXPTIME and provenance in all seven."""
    _, out, paths = yaml_run
    with fits.open(out / "crmasks.fits") as hdul:
        masks_uuid = hdul[0].header["UUID"]
    for method in COMBINATIONS:
        header = fits.getheader(out / f"combined_{method}.fits")
        for key, value in KEPT.items():
            assert header[key] == value, (method, key)
        for key in COMBINED_KEYS:
            assert key in header, (method, key)
        assert header["BUNIT"] == "electron"
        assert header["EXPTIME"] == 901.0  # one exposure, the first input's
        assert header["TOTEXP"] == 901.0 + 902.0 + 903.0
        assert header["NCOMBINE"] == 3
        assert header["COMBMETH"] == method
        assert header["CRMUUID"] == masks_uuid
        assert header["CRSWVER"] == f"megara_crplugin {__version__}"
        assert [header[f"CRINP{i}"] for i in (1, 2, 3)] == [p.name for p in paths]
        assert header["VARDEF"].startswith("sample variance")
        assert is_combined_product(header) == "COMBMETH"


def test_apply_keeps_the_header(yaml_run, tmp_path):
    """``apply`` writes the same header keys as the YAML form."""
    folder, out, paths = yaml_run
    lst = folder / "list.txt"
    lst.write_text("\n".join(p.name for p in paths) + "\n")
    target = tmp_path / "c.fits"
    status = main(
        [
            "apply",
            "--inputlist",
            str(lst),
            "--input_mask",
            str(out / "crmasks.fits"),
            "--output_combined",
            str(target),
            "--combination",
            "meancr",
        ]
    )
    assert status == 0
    header = fits.getheader(target)
    assert header["OBJECT"] == KEPT["OBJECT"] and header["CTYPE1"] == "RA---TAN"
    assert header["COMBMETH"] == "meancr" and header["NCOMBINE"] == 3
    assert header["BUNIT"] == "electron"


def test_header_without_input_keys_defaults():
    """No first header: BUNIT falls back to ADU; structural keys are never copied."""
    header = combined_header(None, method="median", inputs=["a.fits", "b.fits", "c.fits"])
    assert header["BUNIT"] == "ADU" and header["NCOMBINE"] == 3
    assert "megaradrp" in header["VARDEF"]
    single = fits.Header({"NCOMBINE": 1})
    assert is_combined_product(single) is None
    assert is_combined_product(fits.Header({"NUM-NCOM": 5})) == "NUM-NCOM"


def test_compute_refuses_a_combined_product(yaml_run, tmp_path, capsys):
    """A combined image in the input list is refused before any work, naming the file."""
    folder, out, paths = yaml_run
    lst = tmp_path / "list.txt"
    names = [str(p) for p in paths] + [str(out / "combined_median.fits")]
    lst.write_text("\n".join(names) + "\n")
    target = tmp_path / "masks.fits"
    status = main(["compute", "--inputlist", str(lst), "--output_masks", str(target)])
    assert status == 1
    err = capsys.readouterr().err
    assert "combined_median.fits: a combined product (header COMBMETH = 'median')" in err
    assert not target.exists()
