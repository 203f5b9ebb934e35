"""Real ``numina run`` of the crplugin pipeline on synthetic raw MEGARA frames.

The frames use the narrow test instrument profile (``drp_config/profiles``,
raw 4212 x 356, trimmed 4112 x 256), passed with ``--profile-path``.  One
MegaraCrDetection run produces ``crmasks.fits``; a MegaraLcbImage run
(faked LCB calibrations) consumes it with ``method: meancr2``.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
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
    assert any(h.startswith("Extension MEANCR: ") for h in history)
    assert any(h.startswith("master_bias: master_bias.fits UUID ") for h in history)
    assert "master_dark: none" in history
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
    """Issue 10: masks recorded for other exposures are refused, naming both sets."""
    other = ws.data / "crmasks_other.fits"
    with fits.open(truth_masks) as hdul:
        for i in (1, 2, 3):
            hdul[0].header[f"FUUID{i}"] = f"other-{i}"
        hdul.writeto(other, overwrite=True)
    ob = _lcb_ob(ws, "otherframes", ws.names, method="meancr", crmasks=other.name)
    proc, _, _ = _run_ob(ws, ob)
    assert proc.returncode == 1
    assert (
        "ERROR: MegaraLcbImage: crmasks_other.fits does not match the frames of the "
        "observation result (raw_1.fits, raw_2.fits, raw_3.fits): crmasks_other.fits: the "
        "masks were computed for other exposures (recorded: other-1, other-2, other-3; "
        f"given: {', '.join(ws.uuids)})" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


def test_same_frames_in_another_order_reorder_masks_and_factors(ws, tmp_path):
    """Issue 10: the masks follow the frames by UUID (CRMASKi and FLUXFi reordered)."""
    path = nh.truth_crmasks_file(
        tmp_path / "original.fits",
        ws.sset,
        ws.uuids,
        apply_flux_factor_to="original",
        flux_factors=(1.0, 2.0, 1.5),
    )
    masks = read_crmasks(path)
    order = [1, 2, 0]
    names = [ws.names[i] for i in order]
    rinput = _lcb_input(ws, names, method="meancr", crmasks=DataFrame(filename=str(path)))
    recipe = CrLCBImageRecipe()
    out = recipe.combine_with_crmasks(rinput)
    frames, _ = _preprocess(recipe, rinput)
    crm = {f"CRMASK{j}": masks.masks[f"CRMASK{i + 1}"] for j, i in enumerate(order, start=1)}
    masks = replace(masks, flux_factors=masks.flux_factors[order], masks={**masks.masks, **crm})
    expected = combine(frames, "meancr", masks=masks, apply_flux_factor=True)
    np.testing.assert_array_equal(out[0].data, expected.data)
    np.testing.assert_array_equal(out["MAP"].data, expected.map)


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
    assert str(hdr["FUUID1"]).startswith("sha256:")  # checksum of the raw pixels (issue 10)
    history = [str(h) for h in hdr["HISTORY"]]
    assert f"Image {hdr['FUUID1']} raw_1.fits" in history
    assert "interactive = False" in history
    assert "interactive: no display is available, running without interaction" in caplog.text
    assert (
        "frames without UUID (raw_1.fits, raw_2.fits, raw_3.fits): recorded by a checksum"
        in caplog.text
    )
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


def test_the_same_frame_twice_is_rejected(ws, truth_masks):
    rinput = _lcb_input(
        ws,
        ws.names + ws.names[:1],
        method="meancrt",
        crmasks=DataFrame(filename=str(truth_masks)),
    )
    with pytest.raises(  # issue 10: a frame given twice is refused before the masks are read
        RecipeInputError,
        match=r"CrLCBImageRecipe: images: raw_1.fits \(#1\) and raw_1.fits \(#4\) are the same "
        r"exposure \(UUID ",
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


@pytest.mark.slow
@numina_run
@needs_entry_point
def test_yaml_compute_and_numina_give_the_same_masks(ws, crdet, tmp_path, capsys):
    """Same frames, same parameters: the YAML form, ``compute`` and the recipe agree.

    The recipe's preprocessed frames (electrons, gain 1, bias 0) are given to
    the two command forms with the recipe's parameters and nothing else, so
    every other parameter takes the schema default in all three.
    """
    import yaml

    from megara_crplugin.cli import main

    pre = [crdet.work / f"preprocessed_{i}.fits" for i in (1, 2, 3)]
    reqs = {k: v for k, v in CR_PARAMS.items()}
    params = {"images": [str(p) for p in pre], "gain": 1.0, "bias": 0.0, "requirements": reqs}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "yaml_out"
    argv = [str(tmp_path / "p.yaml"), "--output_dir", str(out), "--no-reports"]
    assert main([*argv, "--combinations", "none", "--quiet"]) == 0
    assert not list(out.glob("combined_*.fits"))  # --combinations none
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(str(p) for p in pre) + "\n")
    masks = tmp_path / "compute_masks.fits"
    opts = ["--crmethod", "mmcosmic", "--no-interactive", "--mm_nsimulations", "3"]
    assert main(["compute", "--inputlist", str(lst), "--output_masks", str(masks), *opts]) == 0
    names = ["MEDIANCR", "MEANCRT", "CRMASK1", "CRMASK2", "CRMASK3", "MEANCR"]
    with (
        fits.open(crdet.results / "crmasks.fits") as ref,
        fits.open(out / "crmasks.fits") as from_yaml,
        fits.open(masks) as from_compute,
    ):
        for name in names:
            np.testing.assert_array_equal(from_yaml[name].data, ref[name].data, err_msg=name)
            np.testing.assert_array_equal(from_compute[name].data, ref[name].data, err_msg=name)
        assert int(ref["MEDIANCR"].data.sum()) > 0
    # the cookbook's 'ls preprocessed_*.fits' also lists the median: refused
    lst.write_text("\n".join(str(p) for p in sorted(crdet.work.glob("preprocessed_*.fits"))))
    capsys.readouterr()
    assert main(["compute", "--inputlist", str(lst), "--output_masks", str(masks)]) == 1
    assert "preprocessed_median.fits: a combined product" in capsys.readouterr().err


@pytest.mark.slow
@numina_run
@needs_entry_point
def test_any_profile_with_crmasks_uses_the_cr_method(ws, crdet):
    """No 'method' and no control.yaml entry for the profile: crmasks -> meancr2."""
    ob = _lcb_ob(ws, "automethod", ws.names, crmasks="crmasks_crdet1.fits")
    proc, results, _ = _run_ob(ws, ob)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hdr = fits.getheader(results / "reduced_image.fits")
    history = [str(h) for h in hdr["HISTORY"]]
    assert "Combined 3 images using 'meancr2'" in history
    assert hdr["VARDEF"].startswith("sample variance of the unmasked values")
    assert any(h.startswith("master_bias: master_bias.fits UUID ") for h in history)
    assert "crmasks ignored" not in proc.stderr


@pytest.mark.slow
@numina_run
@needs_entry_point
def test_plain_method_with_crmasks_warns_and_misspelling_is_refused(ws, truth_masks):
    ob = _lcb_ob(ws, "plainmasks", ws.names, method="median", crmasks=truth_masks.name)
    proc, results, _ = _run_ob(ws, ob)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING" in proc.stderr and "crmasks given but method 'median'" in proc.stderr
    assert fits.getheader(results / "reduced_image.fits")["VARDEF"] == "megaradrp median"
    # no method and no crmasks: 'auto' is megaradrp's median
    proc, results, _ = _run_ob(ws, _lcb_ob(ws, "automedian", ws.names))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fits.getheader(results / "reduced_image.fits")["VARDEF"] == "megaradrp median"
    assert "method auto -> 'median' (crmasks not given)" in proc.stderr
    ob = _lcb_ob(ws, "typo", ws.names, method="meancr2", crmask=truth_masks.name)
    proc, _, _ = _run_ob(ws, ob)
    assert proc.returncode == 1
    assert "unknown requirement 'crmask'; did you mean 'crmasks'?" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("postprocessed", [False, True])
def test_recipe_hands_the_frames_over_unless_it_combines_them_after(
    tmp_path, monkeypatch, postprocessed
):
    """The preprocessed frames are freed once stacked (tree PSS of a full-size run 2.12 ->
    1.93 GB), except when ``save_postprocessed`` still needs them."""
    import megara_crplugin.pipeline as pipeline

    monkeypatch.chdir(tmp_path)
    seen = []
    real = pipeline.compute_crmasks

    def spy(frames, parameters=None, **kw):
        result = real(frames, parameters, **kw)
        seen.append((kw.get("release_frames"), len(frames)))
        return result

    monkeypatch.setattr(pipeline, "compute_crmasks", spy)
    data = tmp_path / "data"
    sset = nh.synthetic_set(3, n_single=20, n_double=3)
    names, _ = nh.write_raw_set(data, sset)
    nh.master_bias().writeto(data / "master_bias.fits")
    recipe = CrDetectionRecipe()
    recipe.intermediate_results = postprocessed  # the combinations need the frames after
    rinput = recipe.create_input(
        obresult=nh.observation_result(data, names, "MegaraCrDetection"),
        master_bias=DataFrame(filename=str(data / "master_bias.fits")),
        **{**CR_PARAMS, "mm_nsimulations": 2, "save_postprocessed": postprocessed},
    )
    result = recipe.run(rinput)
    assert seen == ([(False, 3)] if postprocessed else [(True, 0)])
    assert all(result.crmasks.frame["MEDIANCR"].data[y, x] for y, x in sset.double_hits)
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("postprocessed"))
    assert len(written) == (7 if postprocessed else 0)
