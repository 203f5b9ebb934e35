"""The boundary stage's synthetic model (megara_crplugin.mmboundary) on small arrays."""

import numpy as np

from megara_crplugin.config import validate_parameters
from megara_crplugin.mmboundary import synthetic_model
from megara_crplugin.stacking import stack_statistics

SHAPE = (6, 8)


def _setup(**params):
    rng = np.random.default_rng(2)
    stack = (50.0 + rng.normal(0, 2, size=(3, *SHAPE))).astype(np.float32)
    stack[:, 0, 0] = -5.0  # a negative expectation is clipped to 0
    stack[0, 3, 4] += 900.0
    stack[1, 3, 4] += 800.0  # a double hit raises median2d
    cfg = validate_parameters(
        {"crmethod": "mmcosmic", "interactive": False, **params}, n_images=3, shape=SHAPE
    )
    return cfg, stack_statistics(stack), stack


def test_median_model_takes_min2d_where_aux_flags_the_median():
    cfg, stats, _ = _setup()
    aux = np.zeros(SHAPE, bool)
    aux[3, 4] = True
    ff = np.array([0.9, 1.0, 1.1])
    model = synthetic_model(cfg, stats, aux, None, None, ff)
    assert model.model.shape == SHAPE
    assert model.model[3, 4] == stats.min2d[3, 4]  # the hit is not part of the expectation
    assert model.model[0, 0] == 0.0
    np.testing.assert_array_equal(model.model[1], stats.median2d[1])
    np.testing.assert_allclose(model.factors, ff)  # 'simulated': multiplied (defect 19)


def test_flux_factors_applied_to_the_original_frames_leave_the_simulation_unscaled():
    cfg, stats, _ = _setup(apply_flux_factor_to="original", flux_factor=[0.9, 1.0, 1.1])
    model = synthetic_model(cfg, stats, np.zeros(SHAPE, bool), None, None, np.array([0.9, 1, 1.1]))
    np.testing.assert_array_equal(model.factors, np.ones(3))


def test_single_model_is_the_cleaned_exposures():
    cfg, stats, stack = _setup(crmethod="mm_pycosmic", mm_synthetic="single")
    cleaned = [s + 1.0 for s in stack]
    model = synthetic_model(cfg, stats, np.zeros(SHAPE, bool), cleaned, None, np.ones(3))
    assert model.model.shape == (3, *SHAPE)
    np.testing.assert_allclose(model.model, np.stack(cleaned))
    np.testing.assert_array_equal(model.factors, np.ones(3))


def test_offsets_give_one_shifted_model_per_exposure():
    cfg, stats, _ = _setup()
    offsets = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    ff = np.array([1.0, 1.0, 2.0])
    model = synthetic_model(cfg, stats, np.zeros(SHAPE, bool), None, offsets, ff)
    assert model.model.shape == (3, *SHAPE)
    pre = np.clip(stats.median2d, 0, None)
    np.testing.assert_allclose(model.model[0], pre)
    np.testing.assert_allclose(model.model[2], 2.0 * pre)  # factors folded into the cube
    assert not np.allclose(model.model[1], pre)  # shifted by one pixel in x
    np.testing.assert_array_equal(model.factors, np.ones(3))


# --------------------------------------------------------------------------- mm_boundary
# Simulations + fits + review loop on a 64 x 64 frame set: gain 1 e-/ADU, read noise
# 3 ADU, a vertical trace of up to ~6000 ADU on a 20 ADU background, 3 exposures.

BSHAPE = (64, 64)
RNOISE = 3.0


def _frames(seed=11, hit=None):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: BSHAPE[0], : BSHAPE[1]]
    signal = 20.0 + 3000.0 * np.exp(-0.5 * ((xx - 32) / 6.0) ** 2) * (1 + yy / 64)
    stack = np.stack(
        [rng.poisson(signal) + rng.normal(0, RNOISE, BSHAPE) for _ in range(3)]
    ).astype(np.float32)
    if hit is not None:  # a double hit: raises the median, not the minimum
        stack[0][hit] += 400.0
        stack[1][hit] += 450.0
    return stack


class _Recorder:
    """Reviewer returning the scripted decisions in turn; records what it was shown."""

    def __init__(self, *decisions):
        self.decisions = list(decisions)
        self.seen = []

    def review_boundary(self, histogram, boundary, stats, config):
        from megara_crplugin.hooks import BoundaryDecision

        self.seen.append((histogram, boundary, config))
        return self.decisions.pop(0) if self.decisions else BoundaryDecision()


def _run(reviewer=None, *, stack=None, **params):
    from megara_crplugin.hooks import NullProgress, NullReviewer
    from megara_crplugin.inputs import noise_model
    from megara_crplugin.mmboundary import mm_boundary
    from megara_crplugin.pipeline import _Context

    stack = _frames() if stack is None else stack
    base = {"crmethod": "mmcosmic", "interactive": False, "mm_nsimulations": 3, "mm_seed": 5}
    base.update(gain=1.0, rnoise=RNOISE, **params)
    cfg = validate_parameters(base, n_images=3, shape=BSHAPE)
    noise = noise_model(cfg.gain, cfg.rnoise, cfg.bias, shape=BSHAPE)
    stats = stack_statistics(stack)
    model = synthetic_model(cfg, stats, np.zeros(BSHAPE, bool), None, None, np.ones(3))
    ctx = _Context(cfg, noise, NullProgress(), reviewer or NullReviewer(), None)
    out = mm_boundary(ctx, stats, model, np.zeros(BSHAPE, bool), shifted=False)
    return (*out, stats, ctx)


def test_boundary_is_finite_rising_and_above_every_clean_pixel():
    _, boundary, secondary, stats, _ = _run()
    x = np.linspace(boundary.xmin, boundary.xmax, 400)
    y = boundary(x)
    assert np.all(np.isfinite(y)) and np.all(y > 0)
    assert np.all(np.diff(y) >= 0)  # Poisson noise grows with the signal
    assert y[-1] > 3 * y[0]
    # no clean pixel above the median boundary; the mean of 3 scatters less than their median
    assert not np.any(stats.median2d - stats.min2d > boundary(stats.min2d))
    assert np.all(secondary["mean"](x) <= y + 1e-6)


def test_a_double_hit_is_above_the_boundary():
    hit = (10, 32)
    _, boundary, _, stats, _ = _run(stack=_frames(hit=hit))
    above = stats.median2d - stats.min2d > boundary(stats.min2d)
    assert above[hit] and np.count_nonzero(above) == 1


def test_simulated_histogram_shape_and_contents():
    hist, _, _, stats, _ = _run()
    nby, nbx = len(hist.yedges) - 1, len(hist.xedges) - 1
    assert hist.counts.shape == hist.real_counts.shape == (nby, nbx)
    assert np.all(np.diff(hist.xedges) > 0) and np.all(np.diff(hist.yedges) > 0)
    assert hist.nsimulations == 3 and hist.distribution == "poisson"
    assert hist.real_counts.sum() == stats.min2d.size  # every real pixel inside the limits
    # counts are per simulation: the same number of pixels as one frame set, up to the
    # isolated bins removed
    assert 0.99 * stats.min2d.size <= hist.counts.sum() <= stats.min2d.size
    assert np.all(hist.counts >= 0)


def test_same_seed_same_result_other_seed_other_simulations():
    a_hist, a_bound, _, _, _ = _run()
    b_hist, b_bound, _, _, _ = _run()
    x = np.linspace(a_bound.xmin, a_bound.xmax, 50)
    np.testing.assert_array_equal(a_hist.counts, b_hist.counts)
    np.testing.assert_array_equal(a_bound(x), b_bound(x))
    c_hist, _, _, _, _ = _run(mm_seed=6)
    assert not np.array_equal(a_hist.counts, c_hist.counts)
    assert c_hist.real_counts.sum() == a_hist.real_counts.sum()  # the same data, all inside


def test_reviewer_is_asked_and_its_refit_and_resimulation_are_applied():
    from megara_crplugin.hooks import BoundaryDecision

    reviewer = _Recorder(
        BoundaryDecision("refit", {"mm_knots_splfit": 6}),
        BoundaryDecision("resimulate", {"mm_nsimulations": 2, "ydiag_max": 500.0}),
    )
    hist, boundary, _, _, ctx = _run(reviewer)
    assert len(reviewer.seen) == 3  # first fit, refit, resimulation; then continue
    assert [cfg.mm_knots_splfit for _, _, cfg in reviewer.seen] == [3, 6, 6]
    first_hist, first_boundary, _ = reviewer.seen[0]
    np.testing.assert_array_equal(reviewer.seen[1][0].counts, first_hist.counts)  # refit only
    assert len(boundary.knots) != len(first_boundary.knots)
    assert hist.nsimulations == 2 and hist.yedges[-1] == 500.0
    assert ctx.cfg.mm_nsimulations == 2 and ctx.cfg.mm_knots_splfit == 6


def test_corroboration_levels_present_only_when_asked():
    _, _, secondary, _, _ = _run()
    levels = secondary["corroboration"]
    assert set(levels) == {"median", "mean", "frame"}
    assert all(level is not None and level.probability == 1e-3 for level in levels.values())
    _, _, off, _, _ = _run(mm_aux_corroboration=None)
    assert off["corroboration"] == {"median": None, "mean": None, "frame": None}
