"""Issue 10: numerical guards and careless inputs give one line and write nothing."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from astropy.io import fits

from megara_crplugin.cli import main
from megara_crplugin.combination import combine
from megara_crplugin.exceptions import InputError
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames, write_frames

PARAMS = {"interactive": False, "mm_nsimulations": 1, "mm_seed": 4, "maxplots": 0}


pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture(scope="module")
def sset():
    return make_megara_like_frames((48, 48), seed=12, n_double_hits=2)


@pytest.fixture
def disk(tmp_path, sset):
    paths = write_frames(sset, tmp_path / "frames")
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(str(p) for p in paths))
    params = {"images": [f"frames/{p.name}" for p in paths], "gain": 1.0, "rnoise": 3.4}
    params["requirements"] = dict(PARAMS)
    yml = tmp_path / "params.yaml"
    yml.write_text(yaml.safe_dump(params, sort_keys=False))
    return {"base": tmp_path, "paths": paths, "list": lst, "yaml": yml, "params": params}


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _err(capsys, status, expected=1):
    err = capsys.readouterr().err.strip()
    assert status == expected and "\n" not in err and "Traceback" not in err, err
    return err


def _masks(disk, capsys):
    out = disk["base"] / "m.fits"
    args = ["compute", "--inputlist", str(disk["list"]), "--output_masks", str(out)]
    assert main([*args, "--nsimulations", "1", "--seed", "1"]) == 0
    capsys.readouterr()
    return out


def test_apply_with_nan_bias_is_refused(disk, capsys):
    masks = _masks(disk, capsys)
    before = _listing(disk["base"])
    out = disk["base"] / "c.fits"
    args = ["apply", "--inputlist", str(disk["list"]), "--input_mask", str(masks)]
    err = _err(capsys, main([*args, "--output_combined", str(out), "--bias", "nan"]))
    assert err == "megara-crmasks: error: bias: expected finite values (ADU), got nan"
    assert _listing(disk["base"]) == before


def test_values_near_1e30_are_refused(disk, capsys, sset):
    masks = _masks(disk, capsys)
    for p in disk["paths"]:
        with fits.open(p, mode="update") as hdul:
            hdul[0].data = hdul[0].data.astype(np.float32) * np.float32(1e28)
    before = _listing(disk["base"])
    out = disk["base"] / "c.fits"
    args = ["apply", "--inputlist", str(disk["list"]), "--input_mask", str(masks)]
    err = _err(capsys, main([*args, "--output_combined", str(out), "--combination", "mean"]))
    assert "combination mean: " in err and "non-finite pixel(s) in the VARIANCE" in err
    assert _listing(disk["base"]) == before
    big = [f.astype(np.float32) * np.float32(1e28) for f in sset.frames]
    with pytest.raises(
        InputError, match=r"frame 1: values up to .* ADU; expected \|values\| < 1e\+18"
    ):
        compute_crmasks(big, {**PARAMS, "gain": 1.0, "rnoise": 3.4})


@pytest.mark.parametrize("value", [0.0, 250.0])
def test_constant_frame_is_refused(sset, value):
    frames = list(sset.frames)
    frames[1] = np.full_like(frames[1], value)
    with pytest.raises(
        InputError, match=rf"frame 2: constant image \(every pixel = {value:g} ADU\)"
    ):
        compute_crmasks(frames, {**PARAMS, "gain": 1.0, "rnoise": 3.4})


def test_duplicate_arrays_are_refused(sset):
    frames = [sset.frames[0], sset.frames[1], sset.frames[0].copy()]
    with pytest.raises(InputError, match="images: frame 1 and frame 3 have the same pixel values"):
        compute_crmasks(frames, {**PARAMS, "gain": 1.0, "rnoise": 3.4})


def test_offsets_larger_than_the_image_are_refused(sset):
    params = {**PARAMS, "gain": 1.0, "rnoise": 3.4, "crmethod": "mm_lacosmic"}
    params.update(mm_xy_offsets=[[0, 0], [60, 0], [0, 0]], mm_crosscorr_region=None)
    with pytest.raises(InputError, match=r"mm_xy_offsets: pair 2 \[60, 0\] is larger than"):
        compute_crmasks(list(sset.frames), params)


def test_dilation_masking_everything_is_refused(sset):
    params = {**PARAMS, "gain": 1.0, "rnoise": 3.4, "dilation": 30}
    with pytest.raises(InputError, match=r"dilation: 30 would grow a single detection over"):
        compute_crmasks(list(sset.frames), params)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images: [a.fits]\ngain: 1\ngain: 2\n", "key 'gain' appears twice (lines 2 and 3)"),
        ("requirements:\n  dilation: 1\n  dilation: 2\n", "key 'dilation' appears twice"),
        ("images: [a.fits]\nextnum: one\n", "'extnum' must be an integer >= 0, got 'one'"),
        ("images: [a.fits]\nextnum: true\n", "'extnum' must be an integer >= 0, got True"),
        ("images: [a.fits]\nextname: 3\n", "'extname' must be an HDU name, got 3"),
    ],
)
def test_careless_yaml_is_one_line(tmp_path, capsys, text, message):
    yml = tmp_path / "p.yaml"
    yml.write_text(text)
    err = _err(capsys, main([str(yml), "--output_dir", str(tmp_path / "out")]))
    assert message in err and str(yml) in err
    assert _listing(tmp_path) == ["p.yaml"]


def test_non_utf8_yaml_is_one_line(tmp_path, capsys):
    yml = tmp_path / "p.yaml"
    yml.write_bytes("images: [caf\u00e9.fits]\n".encode("latin-1"))
    err = _err(capsys, main([str(yml)]))
    assert f"parameter file {yml}: not UTF-8 text" in err


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("gain", float("nan"), "gain: expected a finite number > 0"),
        ("rnoise", float("inf"), "rnoise"),
        ("gain", "gain.fits", "gain: expected a finite number > 0"),
        ("bias", "bias.fits", "bias: expected a finite number"),
    ],
)
def test_non_finite_noise_parameters_in_every_form(disk, capsys, key, value, message):
    if isinstance(value, str):
        arr = np.full((48, 48), 1.0, np.float32)
        arr[3, 4] = np.nan if key == "gain" else np.inf
        fits.PrimaryHDU(arr).writeto(disk["base"] / value)
    params = {**disk["params"], key: value}
    disk["yaml"].write_text(yaml.safe_dump(params))
    before = _listing(disk["base"])
    err = _err(capsys, main([str(disk["yaml"]), "--output_dir", str(disk["base"] / "out")]))
    assert message in err
    assert _listing(disk["base"]) == before


@pytest.mark.parametrize(("opt", "value"), [("--gain", "nan"), ("--rnoise", "inf")])
def test_compute_options_non_finite(disk, capsys, opt, value):
    out = disk["base"] / "m.fits"
    args = ["compute", "--inputlist", str(disk["list"]), "--output_masks", str(out)]
    err = _err(capsys, main([*args, opt, value]))
    assert opt.lstrip("-") in err
    assert not out.exists()


def test_truncated_input_image_is_one_line(disk, capsys):
    raw = disk["paths"][1].read_bytes()
    disk["paths"][1].write_bytes(raw[: len(raw) - 2000])
    out = disk["base"] / "m.fits"
    args = ["compute", "--inputlist", str(disk["list"]), "--output_masks", str(out)]
    err = _err(capsys, main(args))
    assert disk["paths"][1].name in err
    assert not out.exists()


def test_combination_overflow_in_the_api(sset):
    frames = [f.astype(np.float32) * np.float32(1e25) for f in sset.frames]
    with pytest.raises(InputError, match="combination mean: .* in the VARIANCE"):
        combine(frames, "mean")
    np.testing.assert_array_equal(
        combine(frames, "mean", dtype="float64").data.shape, frames[0].shape
    )
