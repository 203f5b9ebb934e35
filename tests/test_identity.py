"""Issue 10: masks follow the frames by identity (UUID or checksum); crmasks keywords checked."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from megara_crplugin.cli import main
from megara_crplugin.combination import combine
from megara_crplugin.crmasks_file import crmasks_hdulist, read_crmasks
from megara_crplugin.exceptions import CRPluginWarning, InputError
from megara_crplugin.identity import (
    check_distinct,
    content_checksum,
    frame_identity,
    match_masks,
)
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames, write_frames

PARAMS = {"interactive": False, "mm_nsimulations": 1, "mm_seed": 4, "maxplots": 0}


pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture(scope="module")
def sset():
    return make_megara_like_frames((48, 48), seed=8, n_double_hits=2, flux_factors=(1.0, 1.3, 0.8))


@pytest.fixture(scope="module")
def result(sset):
    params = {**PARAMS, "gain": sset.gain, "rnoise": sset.rnoise, "flux_factor": "auto"}
    return compute_crmasks(list(sset.frames), {**params, "apply_flux_factor_to": "original"})


@pytest.fixture(scope="module")
def masks_file(result, tmp_path_factory):
    path = tmp_path_factory.mktemp("identity") / "crmasks.fits"
    crmasks_hdulist(result, frame_uuids=("u-1", "u-2", "u-3")).writeto(path)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_checksum_does_not_depend_on_the_integer_or_float_type():
    a = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert content_checksum(a) == content_checksum(a.astype(np.float32))
    assert content_checksum(a) != content_checksum(a.reshape(4, 3))
    assert content_checksum(a).startswith("sha256:") and len(content_checksum(a)) == 39
    assert frame_identity(fits.Header({"UUID": " abc "}), a) == "abc"
    assert frame_identity(fits.Header({"UUID": ""}), a) == content_checksum(a)


def test_same_frames_in_another_order_reorder_masks_and_flux_factors(masks_file, sset):
    masks = read_crmasks(masks_file)
    moved = match_masks(masks, ["u-3", "u-1", "u-2"])
    np.testing.assert_array_equal(moved.flux_factors, masks.flux_factors[[2, 0, 1]])
    for j, i in enumerate((3, 1, 2), start=1):
        np.testing.assert_array_equal(moved.masks[f"CRMASK{j}"], masks.masks[f"CRMASK{i}"])
    np.testing.assert_array_equal(moved.masks["MEDIANCR"], masks.masks["MEDIANCR"])
    frames = list(sset.frames)
    direct = combine(frames, "meancr", masks=masks)
    permuted = combine([frames[2], frames[0], frames[1]], "meancr", masks=moved)
    np.testing.assert_allclose(permuted.data, direct.data, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(permuted.map, direct.map)
    assert match_masks(masks, ["u-1", "u-2", "u-3"]) is masks


def test_other_frames_are_refused_naming_both_sets(masks_file):
    masks = read_crmasks(masks_file)
    with pytest.raises(InputError) as err:
        match_masks(masks, ["u-1", "u-2", "x-9"], source="crmasks file m.fits")
    assert str(err.value) == (
        "crmasks file m.fits: the masks were computed for other exposures "
        "(recorded: u-1, u-2, u-3; given: u-1, u-2, x-9)"
    )


def test_older_file_without_identities_is_accepted_with_a_warning(result, tmp_path):
    path = tmp_path / "old.fits"
    crmasks_hdulist(result).writeto(path)
    masks = read_crmasks(path)
    with pytest.warns(CRPluginWarning, match="records no frame identities"):
        assert match_masks(masks, ["a", "b", "c"]) is masks


def test_duplicates_are_refused():
    with pytest.raises(InputError, match=r"images: b.fits \(#2\) and c.fits \(#3\) are the same"):
        check_distinct(["u1", "u2", "u2"], ["/x/a.fits", "/x/b.fits", "/x/c.fits"])


def _frames_on_disk(tmp_path, sset, uuids=True):
    paths = write_frames(sset, tmp_path / "frames")
    if not uuids:
        for p in paths:
            with fits.open(p, mode="update") as hdul:
                del hdul[0].header["UUID"]
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(str(p) for p in paths))
    return paths, lst


def _cli_compute(lst, out):
    args = ["compute", "--inputlist", str(lst), "--output_masks", str(out), "--nsimulations", "1"]
    return main([*args, "--seed", "2", "--gain", "1.0", "--rnoise", "3.4"])


def _cli_apply(lst, masks, out, method="meancr"):
    return main(
        ["apply", "--inputlist", str(lst), "--input_mask", str(masks)]
        + ["--output_combined", str(out), "--combination", method]
    )


@pytest.mark.parametrize("uuids", [True, False], ids=["uuid", "checksum"])
def test_cli_apply_accepts_any_order_and_refuses_other_frames(tmp_path, sset, capsys, uuids):
    paths, lst = _frames_on_disk(tmp_path, sset, uuids=uuids)
    assert _cli_compute(lst, tmp_path / "m.fits") == 0
    hdr = fits.getheader(tmp_path / "m.fits")
    recorded = [hdr[f"FUUID{i}"] for i in (1, 2, 3)]
    if uuids:
        assert recorded == [fits.getheader(p)["UUID"] for p in paths]
    else:
        assert all(r.startswith("sha256:") for r in recorded)
    assert _cli_apply(lst, tmp_path / "m.fits", tmp_path / "direct.fits") == 0
    swapped = tmp_path / "swapped.txt"
    swapped.write_text("\n".join(str(paths[i]) for i in (2, 0, 1)))
    assert _cli_apply(swapped, tmp_path / "m.fits", tmp_path / "swapped.fits") == 0
    a, b = fits.getdata(tmp_path / "direct.fits"), fits.getdata(tmp_path / "swapped.fits")
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-4)
    # other exposures of the same shape and number: refused, nothing written
    other = make_megara_like_frames((48, 48), seed=99, n_double_hits=2)
    _, other_list = _frames_on_disk(tmp_path / "o", other, uuids=uuids)
    capsys.readouterr()
    assert _cli_apply(other_list, tmp_path / "m.fits", tmp_path / "bad.fits") == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "the masks were computed for other exposures (recorded: " in err
    assert recorded[0] in err
    assert not (tmp_path / "bad.fits").exists()


def test_the_same_file_listed_three_times_is_refused(tmp_path, sset, capsys):
    paths, _ = _frames_on_disk(tmp_path, sset)
    lst = tmp_path / "same.txt"
    lst.write_text("\n".join([str(paths[0])] * 3))
    assert _cli_compute(lst, tmp_path / "m.fits") == 1
    err = capsys.readouterr().err.strip()
    assert f"{paths[0].name} (#1) and {paths[0].name} (#2) are the same exposure" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "list.txt", "same.txt"]


def test_seed_used_is_recorded_when_mm_seed_is_null(sset):
    params = {**PARAMS, "mm_seed": None, "gain": sset.gain, "rnoise": sset.rnoise}
    res = compute_crmasks(list(sset.frames), params)
    hdr = crmasks_hdulist(res)[0].header
    assert hdr["MMSEED"] == res.extras["seed"]
    assert f"mm_seed (used) = {res.extras['seed']}" in [str(h) for h in hdr["HISTORY"]]


# --------------------------------------------------------------------------- corrupted files


def _corrupt(masks_file, tmp_path, change) -> Path:
    with fits.open(masks_file) as hdul:
        change(hdul)
        path = tmp_path / "bad.fits"
        hdul.writeto(path, overwrite=True)
    return path


def _set(key, value):
    def change(hdul):
        hdul[0].header[key] = value

    return change


def _auxclean_wrong_shape(hdul):
    if "AUXCLEAN" in hdul:
        del hdul["AUXCLEAN"]
    hdul.append(fits.ImageHDU(np.zeros((5, 5), np.float32), name="AUXCLEAN"))


def _mask_value_2(hdul):
    hdul["MEDIANCR"].data[0, 0] = 2


def _float_mask(hdul):
    hdul["MEANCRT"].data = hdul["MEANCRT"].data.astype(np.float32)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("FLUXF1", 0.0), "FLUXF1: expected a finite number > 0, got 0.0"),
        (_set("FLUXF2", -1.5), "FLUXF2: expected a finite number > 0, got -1.5"),
        (_set("FLUXF3", "one"), "FLUXF3: expected a finite number > 0, got 'one'"),
        (_set("FFAPPLY", "both"), "FFAPPLY: expected one of original, simulated, got 'both'"),
        (_set("CRCOINC", 3), "CRCOINC: expected an integer from 2 to 2 (N - 1), got 3"),
        (_set("CRCOINC", "two"), "CRCOINC: expected an integer from 2 to 2 (N - 1), got 'two'"),
        (_set("NFRAMES", 4), "NFRAMES: expected 3 (the number of CRMASKi), got 4"),
        (_set("UUID", ""), "UUID: expected a non-empty string, got ''"),
        (_set("FUUID2", "u-1"), "FUUIDi: the same exposure is recorded twice"),
        (_auxclean_wrong_shape, "AUXCLEAN: expected an image of shape (48, 48), got (5, 5)"),
        (_mask_value_2, "extension MEDIANCR: expected values 0 or 1, got 0..2"),
        (_float_mask, "extension MEANCRT: expected an integer 0/1 mask, got dtype"),
    ],
)
def test_corrupted_crmasks_is_refused_in_one_line(masks_file, tmp_path, change, message):
    path = _corrupt(masks_file, tmp_path, change)
    with pytest.raises(InputError) as err:
        read_crmasks(path)
    assert str(err.value).startswith(f"crmasks file {path}: ")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_truncated_crmasks_is_one_line(masks_file, tmp_path):
    path = tmp_path / "truncated.fits"
    data = masks_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = _sha(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match=f"crmasks file {path}: "):
            read_crmasks(path)
    assert _sha(path) == before


def test_cli_apply_with_corrupted_masks_is_one_line(masks_file, tmp_path, sset, capsys):
    _, lst = _frames_on_disk(tmp_path, sset)
    path = _corrupt(masks_file, tmp_path, _set("FLUXF1", -2.0))
    assert _cli_apply(lst, path, tmp_path / "out.fits") == 1
    err = capsys.readouterr().err.strip()
    assert err == f"megara-crmasks: error: crmasks file {path}: FLUXF1: expected a finite " + (
        "number > 0, got -2.0"
    )
    assert not (tmp_path / "out.fits").exists()


def test_main_form_crmasks_follows_the_frames_and_refuses_others(tmp_path, sset, capsys):
    import yaml

    paths, _ = _frames_on_disk(tmp_path, sset)
    params = {"images": [str(p) for p in paths], "gain": 1.0, "rnoise": 3.4}
    params["requirements"] = dict(PARAMS)
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(params))
    assert main([str(first), "--output_dir", str(tmp_path / "run1"), "--no-reports"]) == 0
    masks = tmp_path / "run1" / "crmasks.fits"
    params["images"] = [str(paths[i]) for i in (1, 2, 0)]
    swapped = tmp_path / "swapped.yaml"
    swapped.write_text(yaml.safe_dump(params))
    assert (
        main([str(swapped), "--output_dir", str(tmp_path / "run2"), "--crmasks", str(masks)]) == 0
    )
    a = fits.getdata(tmp_path / "run1" / "combined_meancr.fits")
    b = fits.getdata(tmp_path / "run2" / "combined_meancr.fits")
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-4)
    other = make_megara_like_frames((48, 48), seed=77, n_double_hits=2)
    other_paths, _ = _frames_on_disk(tmp_path / "o", other)
    params["images"] = [str(p) for p in other_paths]
    bad = tmp_path / "other.yaml"
    bad.write_text(yaml.safe_dump(params))
    capsys.readouterr()
    assert main([str(bad), "--output_dir", str(tmp_path / "run3"), "--crmasks", str(masks)]) == 1
    err = capsys.readouterr().err.strip()
    assert "the masks were computed for other exposures (recorded: " in err and "\n" not in err
    assert not (tmp_path / "run3").exists()
