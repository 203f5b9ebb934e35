"""The target stages (megara_crplugin.targets) on small arrays, each on its own."""

import numpy as np
import pytest

from megara_crplugin.config import validate_parameters
from megara_crplugin.inputs import noise_model
from megara_crplugin.stacking import stack_statistics
from megara_crplugin.targets import (
    crmask_stage,
    detections,
    exposure_stage,
    meancr_stage,
    meancrt_stage,
    mediancr_stage,
    target_inputs,
)

SHAPE = (40, 50)
RNOISE = 3.0
FLAT_BOUNDARY = 30.0  # ADU above min2d


def _flat(x):
    return np.full(np.shape(x), FLAT_BOUNDARY, dtype=float)


@pytest.fixture
def scene():
    """Three flat exposures (100 ADU + noise); a double hit at (10, 10), a single at (20, 30)."""
    rng = np.random.default_rng(3)
    stack = 100.0 + rng.normal(0.0, RNOISE, size=(3, *SHAPE))
    stack[0, 10, 10] += 500.0
    stack[1, 10, 10] += 400.0  # double: raises the median
    stack[2, 20, 30] += 300.0  # single: only exposure 3
    return stack.astype(np.float32)


def _inputs(stack, crmethod="mmcosmic", aux_frames=None, allowed=None, forced=None, **params):
    cfg = validate_parameters(
        {"crmethod": crmethod, "interactive": False, "gain": 1.0, "rnoise": RNOISE, **params},
        n_images=len(stack),
        shape=SHAPE,
    )
    noise = noise_model(1.0, RNOISE, 0.0, shape=SHAPE)
    stats = stack_statistics(stack)
    secondary = {"mean": _flat, "frame": _flat, "corroboration": {}}
    return target_inputs(
        cfg,
        noise,
        stats,
        allowed=np.ones(SHAPE, bool) if allowed is None else allowed,
        forced=np.zeros(SHAPE, bool) if forced is None else forced,
        boundary=_flat,
        secondary=secondary,
        aux_frames=aux_frames,
    )


def test_target_inputs_keep_aux_of_every_exposure_inside_allowed(scene):
    aux = [np.zeros(SHAPE, bool) for _ in range(3)]
    for a in aux:
        a[5, 5] = a[6, 6] = True
    aux[1][7, 7] = True  # not in every exposure
    allowed = np.ones(SHAPE, bool)
    allowed[6, 6] = False
    ti = _inputs(scene, aux_frames=aux, allowed=allowed)
    assert np.argwhere(ti.all_aux).tolist() == [[5, 5]]
    assert _inputs(scene).all_aux is None


def test_detections_of_an_aux_only_method_are_the_allowed_aux_flags(scene):
    aux = np.zeros(SHAPE, bool)
    aux[3, 4] = aux[8, 9] = True
    allowed = np.ones(SHAPE, bool)
    allowed[8, 9] = False
    ti = _inputs(scene, crmethod="lacosmic", allowed=allowed, flux_change_rejection=False)
    flag_aux, flag_mm = detections(ti, scene[0] - ti.stats.min2d, aux)
    assert np.argwhere(flag_aux).tolist() == [[3, 4]]
    assert not flag_mm.any()


def test_mediancr_stage_finds_the_double_hit_only(scene):
    ti = _inputs(scene, mm_expected_sigma=None)
    mediancr, features = mediancr_stage(ti, np.zeros(SHAPE, bool))
    assert mediancr.mask[10, 10]
    assert not mediancr.mask[20, 30]  # a single hit does not raise the median
    assert len(features) == 1  # the hit grown by the default dilation (1 pixel)
    assert sorted(set(features[0].xs.tolist())) == [9, 10, 11]
    assert mediancr.code[10, 10] == 2 and mediancr.code[9, 9] == 1  # M.M. hit, dilation


def test_more_mm_hook_adds_flags(scene):
    ti = _inputs(scene, mm_expected_sigma=None, flux_change_rejection=False, dilation=0)

    def extra(flag_mm):
        out = flag_mm.copy()
        out[30, 40] = True
        return out

    mediancr, _ = mediancr_stage(ti, np.zeros(SHAPE, bool), extra)
    assert mediancr.mask[30, 40] and mediancr.code[30, 40] == 2  # M.M.Cosmic only


def test_exposure_meancrt_and_crmask_stages_nest(scene):
    ti = _inputs(scene, mm_expected_sigma=None)
    no_aux = [np.zeros(SHAPE, bool)] * 3
    mediancr, _ = mediancr_stage(ti, no_aux[0])
    calls = []
    per_frame = exposure_stage(ti, scene, no_aux, lambda i: None, calls.append)
    assert len(per_frame) == 3 and calls == [1, 1, 1]
    assert per_frame[2][1][20, 30] and not per_frame[0][1][20, 30]
    meancrt = meancrt_stage(ti, no_aux[0], per_frame, mediancr.mask)
    assert meancrt.mask[20, 30] and meancrt.mask[10, 10]
    assert not (mediancr.mask & ~meancrt.mask).any()  # MEDIANCR within MEANCRT
    crmasks = crmask_stage(ti, scene, per_frame, meancrt.mask)
    assert list(crmasks) == ["CRMASK1", "CRMASK2", "CRMASK3"]
    assert crmasks["CRMASK3"].mask[20, 30] and not crmasks["CRMASK1"].mask[20, 30]
    for det in crmasks.values():
        assert not (det.mask & ~meancrt.mask).any()  # CRMASKi within MEANCRT


def test_forced_pixels_go_to_the_brightest_exposures(scene):
    forced = np.zeros(SHAPE, bool)
    forced[25, 25] = True
    stack = scene.copy()
    stack[1, 25, 25] += 50.0
    stack[2, 25, 25] += 40.0
    ti = _inputs(stack, forced=forced, mm_expected_sigma=None)
    per_frame = [(np.zeros(SHAPE, bool), np.zeros(SHAPE, bool))] * 3
    within = np.ones(SHAPE, bool)
    crmasks = crmask_stage(ti, stack, per_frame, within)
    assert [crmasks[f"CRMASK{i}"].mask[25, 25] for i in (1, 2, 3)] == [False, True, True]


def test_meancr_stage_keeps_allowed_aux_flags_without_dilation(scene):
    allowed = np.ones(SHAPE, bool)
    allowed[2, 2] = False
    ti = _inputs(scene, allowed=allowed, dilation=2)
    aux = np.zeros(SHAPE, bool)
    aux[2, 2] = aux[15, 15] = True
    meancr = meancr_stage(ti, scene.mean(axis=0), aux)
    assert np.argwhere(meancr.mask).tolist() == [[15, 15]]
