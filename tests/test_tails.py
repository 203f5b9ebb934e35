"""The threshold on photon + read noise at its normal-tail level (``_tails``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, poisson

from megara_crplugin._tails import skewed_threshold

RNOISE_E = 3.4  # e-, gain 1


def _tail(level_sigma: float, lam: float) -> float:
    """Exact P(Poisson(lam) + Normal(0, RNOISE_E) > lam + level_sigma * sigma)."""
    sigma = np.sqrt(lam + RNOISE_E**2)
    n = np.arange(0, int(lam + 60 * np.sqrt(lam) + 100))
    return float(np.sum(poisson.pmf(n, lam) * norm.sf((lam + level_sigma * sigma - n) / RNOISE_E)))


@pytest.mark.parametrize("lam", [5.0, 15.0, 35.0, 200.0, 1000.0])
@pytest.mark.parametrize("k", [3.5, 4.0, 4.5])  # the levels raised_in uses
def test_photon_noise_exceeds_the_skewed_level_as_often_as_normal_noise_exceeds_k(lam, k):
    sigma = np.sqrt(lam + RNOISE_E**2)
    plain = _tail(k, lam) / norm.sf(k)
    skewed = _tail(float(skewed_threshold(k, lam, sigma, 1.0)), lam) / norm.sf(k)
    assert plain > 1.2  # the plain level is exceeded too often (up to 4x)
    assert 0.8 < skewed < 1.2


def test_no_correction_without_photons_and_little_on_bright_pixels():
    assert skewed_threshold(4.5, 0.0, 3.0, 1.0) == 4.5  # read noise only: symmetric
    assert skewed_threshold(4.5, -5.0, 3.0, 1.0) == 4.5  # below the bias: no photons
    assert 4.5 < skewed_threshold(4.5, 1e6, 1e3, 1.0) < 4.51


def test_gain_is_in_electrons_per_adu():
    # 100 ADU at 4 e-/ADU are 400 e-: the skewness of 400 e- of photon noise
    sigma_adu = np.sqrt(100 / 4.0)
    assert skewed_threshold(4.0, 100.0, sigma_adu, 4.0) == pytest.approx(
        4.0 + 15.0 / 6.0 / np.sqrt(400.0)
    )
    gains = np.array([[1.0, 4.0]])
    out = skewed_threshold(4.0, np.full((1, 2), 100.0), np.sqrt(100 / gains), gains)
    assert out[0, 0] > out[0, 1]
