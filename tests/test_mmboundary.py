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
