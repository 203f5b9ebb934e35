"""Corroborated Aux detections (issue 9, item 1): the simulated level and the feature rule."""

from __future__ import annotations

import numpy as np

from megara_crplugin.corroborate import corroborate, level_of
from megara_crplugin.simulation import TOP_K, NoiseScale

SCALE = NoiseScale(gain=1.0, rnoise=2.0)


def _gaussian_columns(nsim_pixels, rng, ncol=5):
    """Counts/tails of columns holding |N(0, sigma(x))| ordinates, like a simulated diagram."""
    xedges = SCALE.inverse(np.linspace(SCALE.forward(0.0), SCALE.forward(400.0), ncol + 1))
    tc = 0.5 * (SCALE.forward(xedges[:-1]) + SCALE.forward(xedges[1:]))
    sig = SCALE.sigma(SCALE.inverse(tc))
    counts = np.zeros((10, ncol))
    tails = np.full((ncol, TOP_K), -np.inf, dtype=np.float32)
    for i in range(ncol):
        y = np.abs(rng.normal(0.0, sig[i], nsim_pixels[i]))
        counts[0, i] = len(y)
        top = np.sort(y)[::-1][:TOP_K]
        tails[i, : len(top)] = top
    return counts, tails, xedges, sig


def test_level_follows_the_simulated_quantile_per_signal():
    rng = np.random.default_rng(3)
    # columns of 20,000 pixels: p = 1e-3 is the 20th largest, inside every column's tail
    counts, tails, xedges, sig = _gaussian_columns([20_000] * 5, rng)
    lvl = level_of(counts, tails, xedges, SCALE, 1e-3)
    z_true = 3.29  # P(|N(0,1)| > 3.29) = 1e-3
    x = SCALE.inverse(0.5 * (SCALE.forward(xedges[:-1]) + SCALE.forward(xedges[1:])))
    got = lvl(x) / sig
    assert np.all(np.abs(got - z_true) < 0.25), got
    assert lvl(np.array([400.0]))[0] > 3 * lvl(np.array([0.0]))[0]  # grows with the signal


def test_crowded_columns_use_the_pooled_tails():
    rng = np.random.default_rng(4)
    # the first column is too crowded for its top-64 to reach p = 1e-3
    counts, tails, xedges, sig = _gaussian_columns([400_000, 20_000, 20_000, 30_000, 25_000], rng)
    lvl = level_of(counts, tails, xedges, SCALE, 1e-3)
    assert abs(lvl.z[0] - 3.29) < 0.3, lvl.z


def test_only_features_with_a_pixel_above_the_level_are_kept():
    y = np.zeros((20, 20))
    x = np.zeros((20, 20))
    aux = np.zeros((20, 20), dtype=bool)
    aux[2:4, 2:4] = True  # a sharp structure with no M.M. evidence (hot pixel)
    y[2:4, 2:4] = 3.0
    aux[10:12, 10:12] = True  # a double hit: one pixel far above the level
    y[10:12, 10:12] = 3.0
    y[11, 11] = 50.0
    aux[15, 15] = True  # above the reference threshold 0, below the level
    y[15, 15] = 6.0

    def level(xx):
        return np.full(np.shape(xx), 8.0)

    kept = corroborate(aux, x, y, level=level, threshold=0.0)
    assert kept[10:12, 10:12].all() and kept.sum() == 4
    # the reference rule (no level): every feature with one pixel above mm_threshold
    assert corroborate(aux, x, y, level=None, threshold=0.0).sum() == aux.sum()
    # pixels forced to validate (CRMASKi: hit in every exposure with M.M. evidence)
    also = np.zeros_like(aux)
    also[2, 2] = True
    assert corroborate(aux, x, y, level=level, threshold=0.0, also=also)[2:4, 2:4].all()
