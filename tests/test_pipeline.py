"""``compute_crmasks`` end to end on small frames: invariants and the fixed defects."""

from __future__ import annotations

import glob

import numpy as np
import pytest
from scipy import ndimage

import megara_crplugin.detectors as detectors
import megara_crplugin.mmboundary as mmboundary
import megara_crplugin.pipeline as pipeline
from megara_crplugin.combination import combine
from megara_crplugin.config import ConfigError
from megara_crplugin.crmasks_file import crmasks_hdulist, read_crmasks
from megara_crplugin.detectors import Detection
from megara_crplugin.exceptions import InputError
from megara_crplugin.inputs import read_frames
from megara_crplugin.masks import target_detection
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames


def caught_events(mask, events):
    """Number of events with at least one pixel in ``mask`` (True = cosmic ray)."""
    return sum(bool(mask[e.ys, e.xs].any()) for e in events)


def _crmasks(result):
    n = len(result.flux_factors)
    return [result.masks[f"CRMASK{i + 1}"] for i in range(n)]


def _check_invariants(result):
    """Subset rules of the masks (spec 5; defects 3, 13, 14)."""
    m = result.masks
    assert list(m) == ["MEDIANCR", "MEANCRT", *[f"CRMASK{i + 1}" for i in range(3)], "MEANCR"]
    assert not (m["MEDIANCR"] & ~m["MEANCRT"]).any(), "MEDIANCR must be inside MEANCRT"
    for i, cm in enumerate(_crmasks(result), start=1):
        assert not (cm & ~m["MEANCRT"]).any(), f"CRMASK{i} must be inside MEANCRT"
    np.testing.assert_array_equal(result.problematic, np.logical_and.reduce(_crmasks(result)))
    for name, t in result.targets.items():
        np.testing.assert_array_equal(t.code > 0, t.mask, err_msg=name)


# ------------------------------------------------------------------ invariants, dilation


def test_masks_nest_and_catch_the_cosmic_rays(small_set, small_result):
    _check_invariants(small_result)
    events = small_set.double_hit_events(min_sigma=5)
    assert len(events) == 16
    assert caught_events(small_result.masks["MEDIANCR"], events) >= 15
    sig1 = np.sqrt(np.clip(small_set.signal, 0, None) / small_set.gain + small_set.rnoise**2)
    for i in range(3):
        bright = small_set.cr_flux[i] > 5 * sig1
        found = np.count_nonzero(bright & small_result.masks[f"CRMASK{i + 1}"])
        assert found >= 0.95 * bright.sum(), f"CRMASK{i + 1}: {found}/{bright.sum()}"
        very = small_set.cr_flux[i] > 10 * sig1
        assert np.all(small_result.masks[f"CRMASK{i + 1}"][very]), f"CRMASK{i + 1}"
    # every CRMASKi pixel that is not a dilation ring lies on or next to a real hit
    near = ndimage.binary_dilation(small_set.truth.any(axis=0), iterations=2)
    for cm in _crmasks(small_result):
        assert np.count_nonzero(cm & ~near) <= 0.01 * cm.sum()


def test_subsets_hold_with_dilation_2(small_result_dil2, small_result):
    """Defect 3: CRMASKi stays inside MEANCRT whatever the dilation."""
    _check_invariants(small_result_dil2)
    for name in ("MEDIANCR", "MEANCRT", "CRMASK1"):
        assert small_result_dil2.masks[name].sum() > small_result.masks[name].sum()


def test_meancr_has_no_dilation_leak(small_result):
    """Defect 1: with dilation 1 and no residual detector MEANCR is empty, not CRMASK_N."""
    assert small_result.config.dilation == 1
    assert small_result.masks["CRMASK3"].sum() > 100
    assert small_result.masks["MEANCR"].sum() == 0


def test_meancrt_contains_mediancr_when_the_mean_finds_nothing(mm_params):
    """Defect 14: the inclusion is enforced even when the mean detections are empty."""
    shape = (20, 20)
    med = np.zeros(shape, dtype=bool)
    med[5, 5] = True
    z = np.zeros(shape, dtype=bool)
    t = target_detection("MEANCRT", z, flag_aux=z, flag_mm=z, dilation=1, include=med)
    np.testing.assert_array_equal(t.mask, med)
    # and end to end: frames without cosmic rays, one pixel forced into MEDIANCR only
    sset = make_megara_like_frames((96, 96), seed=2, n_double_hits=0, cr_fraction=0.0)
    res = compute_crmasks(
        list(sset.frames), mm_params(sset, pixels_to_be_flagged_as_cr=[[40, 30]], dilation=0)
    )
    assert res.masks["MEDIANCR"].sum() == 1 and res.masks["MEDIANCR"][29, 39]
    mean = res.targets["MEANCRT"]
    assert not mean.flag_mm[29, 39] and not mean.flag_aux[29, 39]
    assert mean.mask[29, 39]


# ----------------------------------------------------------------------- bias (defect 2)


def test_bias_is_subtracted_before_every_ordinate(mm_params):
    """Defect 2: bias=1000 on frames + 1000 gives the same masks as bias=0 on the frames."""
    sset = make_megara_like_frames((128, 128), seed=11, n_double_hits=8)
    frames = [np.round(f).astype(np.float32) for f in sset.frames]  # exact in float32 + 1000
    a = compute_crmasks(frames, mm_params(sset, bias=0.0))
    b = compute_crmasks([f + 1000.0 for f in frames], mm_params(sset, bias=1000.0))
    for name, mask in a.masks.items():
        np.testing.assert_array_equal(mask, b.masks[name], err_msg=name)
    assert 0 < a.masks["CRMASK1"].sum() < 0.05 * a.masks["CRMASK1"].size


# ------------------------------------------------------------- operator lists (defect 15)


@pytest.fixture(scope="module")
def operator_run(small_set, small_result, mm_params):
    """The small triplet with pixels flagged, ignored, replaced and a skipped region."""
    truth_any = small_set.truth.any(axis=0)
    quiet = ~ndimage.binary_dilation(truth_any | small_result.masks["MEANCRT"], iterations=4)
    qy, qx = np.argwhere(quiet[100:, 100:])[0] + 100
    events = [e for e in small_set.double_hit_events(min_sigma=5) if e.npix == 1]
    ign = events[0]
    skip = events[1]
    single = [
        e
        for e in small_set.events
        if e.kind == "single" and small_result.masks["MEANCRT"][e.ys[0], e.xs[0]]
    ][0]
    ry, rx = int(single.ys[0]), int(single.xs[0])
    sy, sx = int(skip.ys[0]), int(skip.xs[0])
    region = [max(1, sx - 2), min(256, sx + 4), max(1, sy - 2), min(256, sy + 4)]
    params = mm_params(
        small_set,
        pixels_to_be_flagged_as_cr=[[int(qx) + 1, int(qy) + 1]],
        pixels_to_be_ignored_as_cr=[[int(ign.xs[0]) + 1, int(ign.ys[0]) + 1]],
        pixels_to_be_replaced_by_local_median=[[rx + 1, ry + 1, 3, 3]],
        regions_to_be_skipped=[region],
    )
    res = compute_crmasks(list(small_set.frames), params)
    return {
        "result": res,
        "forced": (int(qy), int(qx)),
        "ignored": (int(ign.ys[0]), int(ign.xs[0])),
        "replaced": (ry, rx),
        "region": region,
    }


def test_pixels_to_be_flagged_are_flagged(operator_run, small_set):
    res = operator_run["result"]
    y, x = operator_run["forced"]
    assert res.masks["MEDIANCR"][y, x] and res.targets["MEDIANCR"].code[y, x] == 1
    assert res.masks["MEANCRT"][y, x]
    # in the exposures holding the mm_cr_coincidences (2) highest values
    values = small_set.frames[:, y, x]
    top2 = set(np.argsort(values)[1:].tolist())
    assert {i for i in range(3) if res.masks[f"CRMASK{i + 1}"][y, x]} == top2


def test_ignored_pixels_and_skipped_regions_are_never_flagged(operator_run, small_result):
    res = operator_run["result"]
    y, x = operator_run["ignored"]
    assert small_result.masks["MEDIANCR"][y, x]  # flagged without the list
    x0, x1, y0, y1 = operator_run["region"]
    assert small_result.masks["MEDIANCR"][y0 - 1 : y1, x0 - 1 : x1].any()
    for name, mask in res.masks.items():
        assert not mask[y, x], name
        assert not mask[y0 - 1 : y1, x0 - 1 : x1].any(), name
    _check_invariants(res)


def test_pixels_replaced_by_local_median(operator_run, small_set, tmp_path):
    res = operator_run["result"]
    y, x = operator_run["replaced"]
    for name, mask in res.masks.items():
        assert not mask[y, x], name
    assert res.rpmedian == ((x + 1, y + 1, 3, 3),)
    masks = read_crmasks(crmasks_hdulist(res))
    assert masks.rpmedian == ((x + 1, y + 1, 3, 3),)
    frames = list(small_set.frames)
    for method in ("mediancr", "meancrt", "meancr", "meancr2"):
        c = combine(frames, method, masks=masks, bias=small_set.bias)
        box = c.data[y - 1 : y + 2, x - 1 : x + 2].astype(np.float64).ravel()
        assert c.data[y, x] == pytest.approx(np.median(np.delete(box, 4)), rel=1e-6)
    plain = combine(frames, "mean", masks=masks, bias=small_set.bias)
    expected = (small_set.frames[:, y, x].astype(np.float64) - small_set.bias).mean()
    assert plain.data[y, x] == pytest.approx(expected, rel=1e-5)
    assert plain.data[y, x] > small_set.signal[y, x] + 20  # the cosmic ray is still there


# -------------------------------------------------------------------- flux factors (19, 20)


def test_simulated_exposures_are_scaled_by_the_flux_factors(monkeypatch, mm_params):
    """Defect 19: 'simulated' multiplies the model by the factors (the reference divided)."""
    models = []
    real = mmboundary.simulate_histogram

    def spy(model, **kwargs):
        models.append(model)
        return real(model, **kwargs)

    monkeypatch.setattr(mmboundary, "simulate_histogram", spy)
    sset = make_megara_like_frames((128, 128), seed=8, flux_factors=[0.8, 1.0, 1.2])
    frames = list(sset.frames)
    res = compute_crmasks(frames, mm_params(sset, flux_factor=[0.8, 1.0, 1.2]))
    np.testing.assert_allclose(models[-1].factors, [0.8, 1.0, 1.2])
    full = slice(0, 128)
    for i in range(3):
        ratio = models[-1].rows(i, full).sum() / sset.expected[i].sum()
        assert ratio == pytest.approx(1.0, abs=0.03)
    np.testing.assert_allclose(res.stats.stack[2], frames[2] - sset.bias)  # not rescaled
    res = compute_crmasks(
        frames, mm_params(sset, flux_factor=[0.8, 1.0, 1.2], apply_flux_factor_to="original")
    )
    np.testing.assert_allclose(models[-1].factors, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(res.stats.stack[2], (frames[2] - sset.bias) / 1.2, rtol=1e-6)


def test_flux_factors_remove_false_detections(mm_params):
    sset = make_megara_like_frames(
        (256, 256), seed=8, flux_factors=[0.8, 1.0, 1.2], n_double_hits=0
    )
    near = ndimage.binary_dilation(sset.multi_hit, iterations=2)

    def false_features(**kw):
        res = compute_crmasks(list(sset.frames), mm_params(sset, **kw))
        return res, sum(1 for f in res.features if not near[f.ys, f.xs].any())

    _, ignored = false_features(mm_expected_sigma=None, flux_change_rejection=False)
    _, profile_test = false_features()
    res, auto = false_features(flux_factor="auto")
    assert ignored > 10  # 20 % flux changes look like cosmic rays in the median
    # issue 9c: most of them follow the fibre profiles and are rejected as flux changes
    assert profile_test <= ignored // 2
    assert auto == 0
    np.testing.assert_allclose(res.flux_factors, [0.8, 1.0, 1.2], rtol=0.02)


def test_auto_flux_factors_of_equivalent_exposures(small_set, mm_params):
    """Defect 20: equivalent exposures give factors within 1e-3 of 1 (never 1.01/0.99)."""
    res = compute_crmasks(list(small_set.frames), mm_params(small_set, flux_factor="auto"))
    assert np.all(np.abs(res.flux_factors - 1.0) < 1e-3)
    assert len(res.extras["flux_factor"]) == 3


# ------------------------------------------------------------------------- N = 5 (22)


def test_five_exposures_min2d_is_mean_of_lowest(mm_params):
    """Defect 22: min2d = mean of the N - mm_cr_coincidences lowest values (N = 5)."""
    sset = make_megara_like_frames((96, 96), n_frames=5, seed=12, n_double_hits=6, bias=50.0)
    forced = [[10, 20], [50, 60], [90, 5]]  # a double hit does not raise a median of 5
    res = compute_crmasks(
        list(sset.frames), mm_params(sset, mm_cr_coincidences=2, pixels_to_be_flagged_as_cr=forced)
    )
    srt = np.sort(sset.frames.astype(np.float64) - 50.0, axis=0)
    np.testing.assert_allclose(res.stats.min2d, srt[:3].mean(axis=0), rtol=1e-5, atol=1e-3)
    assert list(res.masks)[2:7] == [f"CRMASK{i}" for i in range(1, 6)]
    hdul = crmasks_hdulist(res)
    assert hdul[0].header["NFRAMES"] == 5 and hdul[0].header["FLUXF5"] == 1.0
    # the combination replaces MEDIANCR pixels by the same min2d
    masks = read_crmasks(hdul)
    comb = combine(list(sset.frames), "mediancr", masks=masks, bias=50.0)
    med = masks.masks["MEDIANCR"]
    assert all(med[y - 1, x - 1] for x, y in forced)
    np.testing.assert_allclose(comb.data[med], res.stats.min2d[med], rtol=1e-5)


def test_too_few_frames_for_the_coincidences(mm_params):
    sset = make_megara_like_frames((32, 32), n_frames=3, seed=1, n_double_hits=0)
    with pytest.raises(InputError, match=r"expected at least 4 exposures .* got 3"):
        compute_crmasks(list(sset.frames), mm_params(sset, mm_cr_coincidences=3))


# --------------------------------------------------------------- triple hits (defect 24)


class _OracleDetector:
    """Aux detector that knows the noiseless signal: flags > 6 sigma excesses (ADU)."""

    def __init__(self, signal, gain, rnoise):
        self.signal = signal
        self.sigma = np.sqrt(np.clip(signal, 0, None) / gain + rnoise**2)
        self.calls = 0

    def detect(self, image, *, gain, rnoise):
        self.calls += 1
        mask = (image - self.signal) > 6 * self.sigma
        return Detection(mask=mask, cleaned=np.where(mask, self.signal, image).astype(np.float32))


@pytest.fixture(scope="module")
def oracle_run(triple_set, mm_params):
    mp = pytest.MonkeyPatch()
    oracle = _OracleDetector(triple_set.signal, triple_set.gain, triple_set.rnoise)
    mp.setattr(detectors, "get_detector", lambda name, params: oracle)
    try:
        res = compute_crmasks(
            list(triple_set.frames),
            mm_params(triple_set, crmethod="mm_lacosmic"),
        )
    finally:
        mp.undo()
    return res, oracle


def test_triple_hits_masked_in_every_exposure_with_an_aux_detector(triple_set, oracle_run):
    """Defect 24: a pixel hit in every exposure is masked in every CRMASKi (problematic)."""
    res, oracle = oracle_run
    assert oracle.calls == 1 + 3 + 1 + 1  # median, exposures, mean, masked mean
    triples = [e for e in triple_set.events if e.kind == "triple"]
    assert len(triples) == 4
    for e in triples:
        for i in range(3):
            assert res.masks[f"CRMASK{i + 1}"][e.ys, e.xs].all(), (e, i)
        assert res.problematic[e.ys, e.xs].all()
    _check_invariants(res)
    # MEANCR holds the residuals of the masked mean only: no CRMASK_N leak (defect 1)
    assert res.config.dilation == 1
    assert res.masks["MEANCR"].sum() < 0.2 * res.masks["CRMASK3"].sum()
    assert (res.masks["CRMASK3"] & ~res.masks["MEANCR"]).any()


@pytest.mark.xfail(
    strict=True,
    reason="with crmethod mmcosmic an exposure of a triple hit is masked only where it lies 6 "
    "sigma above its expected signal; this generator gives the three rays one footprint, whose "
    "pixels in the rows beside look like a line, so the pixel's own minimum becomes the floor "
    "of the estimate (expected.py): the lowest exposure reads 0 sigma, the others only their "
    "difference from it; defect 24 is fixed there only when an Aux detector flags the pixel in "
    "every exposure",
)
def test_triple_hits_masked_in_every_exposure_with_mmcosmic(triple_set, mm_params):
    res = compute_crmasks(list(triple_set.frames), mm_params(triple_set))
    for e in triple_set.events:
        if e.kind == "triple":
            for i in range(3):
                assert res.masks[f"CRMASK{i + 1}"][e.ys, e.xs].all(), (e, i)


# --------------------------------------------------------- validation before any work (25)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused_before_any_work(monkeypatch, small_set, bad, mm_params):
    def boom(*a, **k):
        raise AssertionError("work started before the input check")

    monkeypatch.setattr(pipeline, "build_stack", boom)
    monkeypatch.setattr(mmboundary, "simulate_histogram", boom)
    frames = [f.copy() for f in small_set.frames]
    frames[2][10, 10:15] = bad
    with pytest.raises(InputError, match=r"^c\.fits: 5 non-finite pixel\(s\) \(NaN or Inf\)"):
        compute_crmasks(frames, mm_params(small_set), frame_names=["a.fits", "b.fits", "c.fits"])
    with pytest.raises(InputError, match=r"^frame 3: 5 non-finite pixel"):
        compute_crmasks(frames, mm_params(small_set))


def test_bad_parameter_is_refused_before_any_work(monkeypatch, small_set, mm_params):
    monkeypatch.setattr(pipeline, "build_stack", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ConfigError, match="mm_nsimulations"):
        compute_crmasks(list(small_set.frames), mm_params(small_set, mm_nsimulations=0))
    with pytest.raises(InputError, match="frames: expected a sequence of 2-D arrays, got str"):
        compute_crmasks("frames.fits", mm_params(small_set))


# ------------------------------------------------------------------ reproducibility


def test_same_seed_identical_masks_other_seed_still_valid(small_set, small_result, mm_params):
    again = compute_crmasks(list(small_set.frames), mm_params(small_set))
    for name, mask in small_result.masks.items():
        np.testing.assert_array_equal(mask, again.masks[name], err_msg=name)
    assert again.uuid != small_result.uuid
    other = compute_crmasks(list(small_set.frames), mm_params(small_set, mm_seed=98765))
    _check_invariants(other)
    events = small_set.double_hit_events(min_sigma=5)
    assert caught_events(other.masks["MEDIANCR"], events) >= len(events) - 1
    assert other.extras["seed"] == 98765


def test_inputs_are_never_modified(small_set, small_frames_copy, small_result):
    # small_result (requested for its side effect) ran compute_crmasks on these frames
    np.testing.assert_array_equal(small_set.frames, small_frames_copy)


# ---------------------------------------------------------------------- features


def test_features_sorted_by_distance_with_categories_from_all_pixels(small_result):
    feats = small_result.features
    assert [f.number for f in feats] == list(range(1, len(feats) + 1))
    dist = [f.distance for f in feats]
    assert dist == sorted(dist, reverse=True)
    med = small_result.targets["MEDIANCR"]
    union = np.zeros_like(med.mask)
    for f in feats:
        assert not union[f.ys, f.xs].any()  # disjoint
        union[f.ys, f.xs] = True
        codes = set(med.code[f.ys, f.xs].tolist())
        expected = (
            "any4"
            if 4 in codes
            else "only3"
            if 3 in codes and 2 not in codes
            else "only2"
            if 2 in codes and 3 not in codes
            else "other"
        )
        assert f.category == expected
        # distance is the largest y - boundary(x) of the feature's pixels
        x = small_result.stats.min2d[f.ys, f.xs]
        y = small_result.stats.median2d[f.ys, f.xs] - x
        assert f.distance == pytest.approx(float(np.max(y - small_result.boundary(x))), rel=1e-5)
    np.testing.assert_array_equal(union, med.mask)


def test_boundary_is_clamped_in_the_flags(small_result):
    """Defect 17: outside the fitted range the flags use the end values."""
    b = small_result.boundary
    lo, hi = b(np.array([b.xmin, b.xmax]))
    np.testing.assert_allclose(b(np.array([b.xmin - 1e4, b.xmax + 1e6])), [lo, hi])
    assert hi >= lo


# ------------------------------------------------------------------------- real data


def test_real_sprat_five_exposures(shared_data_dir):
    """LT/SPRAT LHS 6328, 5 x 120 s: no coincidences; every > 8 sigma hit masked."""
    paths = sorted(glob.glob(str(shared_data_dir / "aspired_sprat_LHS6328" / "v_e_*_0_0.fits.gz")))
    assert len(paths) == 5
    frames = read_frames(paths)
    before = [f.copy() for f in frames]
    gain, rnoise, bias = 2.45, 2.1, 917.0  # header gain; rnoise from frame differences
    res = compute_crmasks(
        frames,
        {
            "crmethod": "mmcosmic",
            "interactive": False,
            "gain": gain,
            "rnoise": rnoise,
            "bias": bias,
            "flux_factor": "auto",  # the star's throughput varies by ~10 %
            "maxplots": 0,
        },
        frame_names=paths,
    )
    assert res.masks["MEDIANCR"].sum() == 0  # no pixel hit twice in this set
    stack = np.stack(frames)
    med = np.median(stack, axis=0)
    sigma = np.sqrt(np.clip(med - bias, 0, None) / gain + rnoise**2)
    counts = []
    trace_row = int(np.argmax(np.median(med, axis=1)))
    for i in range(5):
        z = (stack[i] - med) / sigma
        hits = z > 8
        counts.append(int(hits.sum()))
        # issue 9c: the star trace moved by a fraction of a pixel in exposure 1, so a few
        # pixels on its flank are > 8 sigma above the median along a whole stretch of the
        # trace (median over 7 pixels along the dispersion > 3 sigma): a flux change, not
        # cosmic rays, and no longer masked
        coherent = ndimage.median_filter(z, size=(1, 7)) > 3
        unmasked = hits & ~res.masks[f"CRMASK{i + 1}"]
        assert not (unmasked & ~coherent).any(), f"frame {i + 1}"
        rows = np.nonzero(unmasked.any(axis=1))[0]
        assert np.all(np.abs(rows - trace_row) <= 4), f"frame {i + 1}: rows {rows}"
    assert counts == [56, 19, 30, 12, 11]  # the README's 53/19/28/11/11 with this noise model
    for f, b in zip(frames, before, strict=True):
        np.testing.assert_array_equal(f, b)
