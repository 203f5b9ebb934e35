"""Real ``numina run`` of the crplugin pipeline on synthetic raw MEGARA frames.

The frames use the narrow test instrument profile (``drp_config/profiles``,
raw 4212 x 356, trimmed 4112 x 256), passed with ``--profile-path``.  One
MegaraCrDetection run produces ``crmasks.fits``; a MegaraLcbImage run
(faked LCB calibrations) consumes it with ``method: meancr2``.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numina_helpers as nh
import numpy as np
import pytest
from astropy.io import fits
from numina.core import DataFrame

from megara_crplugin.combination import combine
from megara_crplugin.crmasks_file import read_crmasks
from megara_crplugin.numina.recipes import (
    CrDetectionRecipe,
    CrLCBImageRecipe,
    RecipeInputError,
    _preprocess,
)

needs_entry_point = pytest.mark.skipif(
    not nh.plugin_installed(),
    reason="megara_crplugin is not installed (pip install -e .): no numina.plugins.1 entry point",
)
numina_run = pytest.mark.numina_run
PROFILE_ARGS = ["--profile-path", str(nh.PROFILE_DIR)]
CR_PARAMS = {"crmethod": "mmcosmic", "interactive": False, "mm_nsimulations": 3, "maxplots": 0}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Data folder: 3 raw frames (UUIDs), master bias and faked LCB calibrations."""
    base = tmp_path_factory.mktemp("numina_run")
    data = base / "data"
    sset = nh.synthetic_set(3)
    names, uuids = nh.write_raw_set(data, sset)
    nh.master_bias().writeto(data / "master_bias.fits")
    cal = nh.write_lcb_calibrations(data)
    return SimpleNamespace(base=base, data=data, sset=sset, names=names, uuids=uuids, cal=cal)


def _run_ob(ws, ob: dict):
    name = f"ob_{ob['id']}.yaml"
    nh.write_yaml(ws.base / name, ob)
    for old in ws.base.glob(f"obsid{ob['id']}_*"):
        shutil.rmtree(old)
    proc = nh.run_numina(["run", name, *PROFILE_ARGS], cwd=ws.base)
    return proc, ws.base / f"obsid{ob['id']}_results", ws.base / f"obsid{ob['id']}_work"


def _lcb_ob(ws, oid, frames, **requirements):
    reqs = {"master_bias": "master_bias.fits", **ws.cal, **requirements}
    return {
        "id": oid,
        "instrument": "MEGARA",
        "mode": "MegaraLcbImage",
        "pipeline": "crplugin",
        "frames": frames,
        "requirements": reqs,
    }


@pytest.fixture(scope="module")
def truth_masks(ws):
    """crmasks.fits built from the injected hits (no detection run needed)."""
    return nh.truth_crmasks_file(ws.data / "crmasks_truth.fits", ws.sset, ws.uuids)


@pytest.fixture(scope="module")
def crdet(ws):
    ob = {
        "id": "crdet1",
        "instrument": "MEGARA",
        "mode": "MegaraCrDetection",
        "pipeline": "crplugin",
        "frames": ws.names,
        "requirements": {"master_bias": "master_bias.fits", "save_preprocessed": True, **CR_PARAMS},
    }
    proc, results, work = _run_ob(ws, ob)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.copy(results / "crmasks.fits", ws.data / "crmasks_crdet1.fits")
    return SimpleNamespace(proc=proc, results=results, work=work)


@pytest.mark.slow
@numina_run
@needs_entry_point
def test_crdetection_numina_run(ws, crdet):
    path = crdet.results / "crmasks.fits"
    with fits.open(path) as hdul:
        names = [h.name for h in hdul]
        assert names == [
            "PRIMARY",
            "MEDIANCR",
            "MEANCRT",
            "CRMASK1",
            "CRMASK2",
            "CRMASK3",
            "MEANCR",
            "DEFECTS",
        ]
        for h in hdul[1:]:
            assert h.data.dtype == np.uint8 and h.data.shape == nh.TRIM_SHAPE
            assert h.header["NPMASKED"] == int(np.count_nonzero(h.data))
        hdr = hdul[0].header
        mediancr = hdul["MEDIANCR"].data.astype(bool)
        meancrt = hdul["MEANCRT"].data.astype(bool)
        crmask = [hdul[f"CRMASK{i}"].data.astype(bool) for i in (1, 2, 3)]
    # the injected double hits are flagged in MEDIANCR (which corrects the median)
    # and in MEANCRT (every cosmic ray of the stack)
    assert all(mediancr[y, x] and meancrt[y, x] for y, x in ws.sset.double_hits)
    assert not any(crmask[i][0:15, :].any() for i in range(3))  # no hit injected there
    assert hdr["NUMRNAM"] == "CrDetectionRecipe" and hdr["NUMPIPE"] == "crplugin"
    assert hdr["NUMDRP"] == "MEGARA" and hdr["NUMTYPE"] == "CRMasks"
    assert [hdr[f"FUUID{i}"] for i in (1, 2, 3)] == ws.uuids
    history = [str(h) for h in hdr["HISTORY"]]
    for fid, name in zip(ws.uuids, ws.names, strict=True):
        assert f"Image {fid} {name}" in history
    assert f"Extension MEDIANCR: {int(mediancr.sum())} masked pixels" in history
    assert hdr["CRMETHOD"] == "mmcosmic" and "mm_nsimulations = 3" in history
    # plots and the preprocessed frames (e-) go to the work folder
    assert (crdet.work / "diagnostic_mediancr.png").stat().st_size > 0
    pre = fits.getdata(crdet.work / "preprocessed_1.fits")
    assert pre.shape == nh.TRIM_SHAPE
    # gain-corrected electrons: the median of the preprocessed frame follows the signal
    assert abs(float(np.median(pre - ws.sset.signal))) < 1.0


@pytest.mark.slow
@numina_run
@needs_entry_point
def test_science_meancr2_equals_core_combination(ws, crdet):
    ob = _lcb_ob(ws, "lcbcr", ws.names, method="meancr2", crmasks="crmasks_crdet1.fits")
    proc, results, _ = _run_ob(ws, ob)
    assert proc.returncode == 0, proc.stderr[-3000:]
    frames = [fits.getdata(crdet.work / f"preprocessed_{i}.fits") for i in (1, 2, 3)]
    masks = read_crmasks(crdet.results / "crmasks.fits")
    expected = combine(frames, "meancr2", masks=masks)
    with fits.open(results / "reduced_image.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "FIBERS", "VARIANCE", "MAP"]
        np.testing.assert_array_equal(hdul[0].data, expected.data)
        np.testing.assert_array_equal(hdul["VARIANCE"].data, expected.variance)
        np.testing.assert_array_equal(hdul["MAP"].data, expected.map)
        hdr = hdul[0].header
        history = [str(h) for h in hdr["HISTORY"]]
    assert f"Masks UUID: {masks.uuid}" in history
    assert "Combined 3 images using 'meancr2'" in history
    assert "apply_flux_factor=False, use_auxmedian=False" in history
    assert hdr["NUMPIPE"] == "crplugin" and hdr["NUMRNAM"] == "CrLCBImageRecipe"
    assert hdr["NUM-NCOM"] == 3 and hdr["UUID"] not in ws.uuids
    # the CR-free combination removes the double hits that a median keeps
    for y, x in ws.sset.double_hits:
        assert abs(expected.data[y, x] - ws.sset.signal[y, x]) < 60.0
    assert (results / "final_rss.fits").is_file()


@numina_run
@needs_entry_point
def test_cr_method_without_crmasks_fails_clearly(ws):
    proc, _, _ = _run_ob(ws, _lcb_ob(ws, "nomasks", ws.names, method="mediancr"))
    assert proc.returncode == 1
    assert (
        "ERROR: MegaraLcbImage: method 'mediancr' needs the cosmic-ray masks: add "
        "'crmasks: <file>'" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


@numina_run
@needs_entry_point
def test_masks_for_other_frames_fail_clearly(ws, truth_masks):
    frames = [ws.names[1], ws.names[0], ws.names[2]]  # same files, other order
    ob = _lcb_ob(ws, "otherframes", frames, method="meancr", crmasks=truth_masks.name)
    proc, _, _ = _run_ob(ws, ob)
    assert proc.returncode == 1
    assert (
        "ERROR: MegaraLcbImage: crmasks_truth.fits does not match the frames of the "
        "observation result (raw_2.fits, raw_1.fits, raw_3.fits): crmasks file "
        "crmasks_truth.fits: the masks were computed for other exposures" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


@numina_run
@needs_entry_point
def test_two_frames_fail_clearly(ws):
    ob = {
        "id": "twoframes",
        "instrument": "MEGARA",
        "mode": "MegaraCrDetection",
        "pipeline": "crplugin",
        "frames": ws.names[:2],
        "requirements": {"master_bias": "master_bias.fits", **CR_PARAMS},
    }
    proc, results, _ = _run_ob(ws, ob)
    assert proc.returncode == 1
    assert (
        "ERROR: MegaraCrDetection: at least 3 equivalent exposures are needed in the "
        "observation result, got 2 (raw_1.fits, raw_2.fits)" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert not (results / "crmasks.fits").exists()


# --------------------------------------------------------------------------- in-process


def _lcb_input(ws, names, **kwargs):
    cls = CrLCBImageRecipe
    return cls.create_input(
        obresult=nh.observation_result(ws.data, names, "MegaraLcbImage"),
        master_bias=DataFrame(filename=str(ws.data / "master_bias.fits")),
        master_apertures=nh.load_requirement(
            cls, "master_apertures", ws.data / "master_traces.json"
        ),
        master_wlcalib=nh.load_requirement(cls, "master_wlcalib", ws.data / "master_wlcalib.json"),
        master_fiberflat=DataFrame(filename=str(ws.data / "master_fiberflat.fits")),
        **kwargs,
    )


@pytest.mark.slow
def test_frames_without_uuid_do_not_crash(tmp_path, monkeypatch, caplog):
    """Also: interactive (the default) without a display runs unattended, with a warning."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("megara_crplugin.numina.recipes._display_available", lambda: False)
    data = tmp_path / "data"
    sset = nh.synthetic_set(3, n_single=20, n_double=3)
    names, uuids = nh.write_raw_set(data, sset, uuids=False)
    assert uuids == [None, None, None]
    nh.master_bias().writeto(data / "master_bias.fits")
    recipe = CrDetectionRecipe()
    params = {k: v for k, v in CR_PARAMS.items() if k != "interactive"}
    rinput = recipe.create_input(
        obresult=nh.observation_result(data, names, "MegaraCrDetection"),
        master_bias=DataFrame(filename=str(data / "master_bias.fits")),
        **{**params, "mm_nsimulations": 2},
    )
    assert rinput.interactive is True
    with caplog.at_level("WARNING", logger="numina.recipes.megara"):
        result = recipe.run(rinput)
    hdr = result.crmasks.frame[0].header
    assert "FUUID1" not in hdr
    history = [str(h) for h in hdr["HISTORY"]]
    assert "Image (no UUID) raw_1.fits" in history
    assert "interactive = False" in history
    assert "interactive: no display is available, running without interaction" in caplog.text
    assert "frames without UUID (raw_1.fits, raw_2.fits, raw_3.fits)" in caplog.text
    assert all(result.crmasks.frame["MEDIANCR"].data[y, x] for y, x in sset.double_hits)
    assert list(tmp_path.iterdir()) == [data]  # no intermediate files outside numina run


def test_masks_of_another_shape_are_rejected(ws, truth_masks, tmp_path):
    with fits.open(truth_masks) as hdul:
        for h in hdul[1:]:
            h.data = h.data[:, :200]
        hdul.writeto(tmp_path / "narrower.fits")
    rinput = _lcb_input(
        ws, ws.names, method="meancr", crmasks=DataFrame(filename=str(tmp_path / "narrower.fits"))
    )
    with pytest.raises(
        RecipeInputError,
        match=r"narrower.fits does not match the frames of the observation result: masks of "
        r"shape \(4112, 200\), preprocessed frames of shape \(4112, 256\)",
    ):
        CrLCBImageRecipe().combine_with_crmasks(rinput)


def test_masks_for_another_number_of_frames_are_rejected(ws, truth_masks):
    rinput = _lcb_input(
        ws,
        ws.names + ws.names[:1],
        method="meancrt",
        crmasks=DataFrame(filename=str(truth_masks)),
    )
    with pytest.raises(
        RecipeInputError,
        match=r"crmasks_truth.fits: masks were computed for 3 exposures, but 4 are given",
    ):
        CrLCBImageRecipe().combine_with_crmasks(rinput)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"use_lamedian": True}, "'use_lamedian' no longer exists, use 'use_auxmedian: true'"),
        ({"sigma": 3}, r"unknown key\(s\) sigma for method 'meancr'; allowed: apply_flux_fac"),
        ({"apply_flux_factor": "yes"}, "method_kwargs.apply_flux_factor: expected true or false"),
    ],
)
def test_method_kwargs_are_checked(ws, truth_masks, kwargs, message):
    rinput = _lcb_input(
        ws,
        ws.names,
        method="meancr",
        method_kwargs=kwargs,
        crmasks=DataFrame(filename=str(truth_masks)),
    )
    with pytest.raises(RecipeInputError, match=message):
        CrLCBImageRecipe().combine_with_crmasks(rinput)


def test_flux_factor_default_follows_the_masks(ws, tmp_path):
    """Without method_kwargs the factors apply only for apply_flux_factor_to 'original'."""
    path = nh.truth_crmasks_file(
        tmp_path / "original.fits",
        ws.sset,
        ws.uuids,
        apply_flux_factor_to="original",
        flux_factors=(1.0, 2.0, 1.0),
    )
    masks = read_crmasks(path)
    rinput = _lcb_input(ws, ws.names, method="meancr", crmasks=DataFrame(filename=str(path)))
    recipe = CrLCBImageRecipe()
    out = recipe.combine_with_crmasks(rinput)
    frames, _ = _preprocess(recipe, rinput)
    applied = combine(frames, "meancr", masks=masks, apply_flux_factor=True).data
    plain = combine(frames, "meancr", masks=masks, apply_flux_factor=False).data
    np.testing.assert_array_equal(out[0].data, applied)
    assert not np.array_equal(applied, plain)
    history = [str(h) for h in out[0].header["HISTORY"]]
    assert "apply_flux_factor=True, use_auxmedian=False" in history
    assert f"Masks UUID: {masks.uuid}" in history
    assert [h.name for h in out] == ["PRIMARY", "FIBERS", "VARIANCE", "MAP"]
