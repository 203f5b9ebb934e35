"""Flux-change rejection on small synthetic arrays (issue 9, item 3).

A feature whose excess (median2d - min2d) is a scaled copy of the local
signal is a flux change and is rejected; a cosmic ray is sharper than the
profile and is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from megara_crplugin.fluxchange import filter_detections, reject_flux_changes
from megara_crplugin.pipeline import compute_crmasks

GAIN, RNOISE = 1.0, 3.0
SHAPE = (41, 41)


def _line(amplitude=20000.0, sigma=1.2):
    """A horizontal arc line (Gaussian profile along y) on a 10-ADU background."""
    y = np.arange(SHAPE[0], dtype=float)[:, None]
    return np.broadcast_to(10.0 + amplitude * np.exp(-0.5 * ((y - 20) / sigma) ** 2), SHAPE).copy()


def _noise(rng, profile, scale=1.0):
    return scale * rng.normal(0.0, np.sqrt(RNOISE**2 + np.clip(profile, 0, None) / GAIN))


def test_scaled_line_is_rejected():
    rng = np.random.default_rng(1)
    profile = _line()
    excess = 0.03 * profile + np.abs(_noise(rng, profile, 0.5))  # the lamp drifted by 3 %
    flags = excess > 0.03 * 10000  # the line core, where the drift looks like a hit
    assert flags.sum() > 20
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE)
    assert res.n_features >= 1 and res.n_rejected == res.n_features
    assert not res.kept.any()
    assert np.array_equal(res.rejected, flags)


def test_cosmic_ray_on_scaled_line_is_kept():
    rng = np.random.default_rng(2)
    profile = _line()
    excess = 0.03 * profile + np.abs(_noise(rng, profile, 0.5))
    excess[20, 12] += 6000.0  # a double hit on the line core: 10 x the drift
    excess[30, 30] += 400.0  # and one on the faint background
    flags = excess > 0.03 * 10000
    flags[30, 30] = True
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE)
    # the line core is one feature holding the hit: kept whole, the background hit kept too
    assert res.kept[20, 12] and res.kept[30, 30]


def test_isolated_cosmic_ray_beside_drifting_line_is_kept():
    rng = np.random.default_rng(3)
    profile = _line()
    excess = 0.03 * profile + np.abs(_noise(rng, profile, 0.5))
    excess[5, 5] += 60.0  # 20 sigma on the background, far from the line
    flags = excess > 0.03 * 10000
    flags[5, 5] = True
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE)
    assert res.kept[5, 5]
    assert not res.kept[20].any()  # the line is rejected
    assert res.n_rejected == res.n_features - 1


@pytest.mark.parametrize("amplitude_sigma", [5.0, 8.0, 50.0])
def test_cosmic_ray_on_flat_sky_is_kept(amplitude_sigma):
    rng = np.random.default_rng(4)
    profile = np.full(SHAPE, 100.0) + _noise(rng, np.full(SHAPE, 100.0))
    sigma = np.sqrt(RNOISE**2 + 100.0 / GAIN)
    excess = np.abs(_noise(rng, profile, 0.7))
    excess[20, 20] += amplitude_sigma * sigma
    flags = np.zeros(SHAPE, dtype=bool)
    flags[20, 20] = True
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE)
    assert res.kept[20, 20] and res.n_rejected == 0


def test_excess_at_noise_level_is_rejected():
    """A detection with no excess beyond the noise (a hot pixel in every frame) goes."""
    rng = np.random.default_rng(5)
    profile = np.full(SHAPE, 100.0)
    excess = np.abs(_noise(rng, profile, 0.7))
    flags = np.zeros(SHAPE, dtype=bool)
    flags[10, 10] = True
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE)
    assert res.n_rejected == 1 and not res.kept.any()


def test_protected_feature_is_kept_and_masks_split_back():
    profile = _line()
    excess = 0.03 * profile
    flags = excess > 300
    protected = np.zeros(SHAPE, dtype=bool)
    protected[20, 3] = True
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE, protected=protected)
    assert np.array_equal(res.kept, flags)
    aux = np.zeros(SHAPE, dtype=bool)
    aux[20, :5] = True
    mm = flags & ~aux
    fa, fm, res2 = filter_detections(aux, mm, excess, profile, gain=GAIN, rnoise=RNOISE, nsigma=4)
    assert not fa.any() and not fm.any() and res2.n_rejected == res2.n_features


def test_empty_flags():
    z = np.zeros(SHAPE)
    res = reject_flux_changes(np.zeros(SHAPE, bool), z, z, gain=GAIN, rnoise=RNOISE)
    assert res.n_features == 0 and not res.kept.any()


def _faint_hit_on_flat_sky(amplitude_sigma=3.5):
    """A flagged pixel whose excess over ``min2d`` stays under the 4-sigma limit."""
    rng = np.random.default_rng(6)
    profile = np.full(SHAPE, 20.0) + _noise(rng, np.full(SHAPE, 20.0))
    sigma = np.sqrt(RNOISE**2 + 20.0 / GAIN)
    excess = np.abs(_noise(rng, profile, 0.7))
    excess[20, 20] = amplitude_sigma * sigma
    flags = np.zeros(SHAPE, dtype=bool)
    flags[20, 20] = True
    return flags, excess, profile


def test_without_flux_change_evidence_a_faint_hit_is_kept():
    """Flat sky: nothing changes, so nothing explains the feature away (flux_change_evidence)."""
    flags, excess, profile = _faint_hit_on_flat_sky()
    old = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE)
    assert old.n_rejected == 1  # the amplitude test alone drops it
    new = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE, evidence_chi2=25.0)
    assert new.n_rejected == 0 and new.kept[20, 20]


def test_warm_pixel_keeps_the_amplitude_test():
    """A single pixel whose highest values are alike is judged by its amplitude alone."""
    flags, excess, profile = _faint_hit_on_flat_sky()
    alike = np.zeros(SHAPE, dtype=bool)
    alike[20, 20] = True
    res = reject_flux_changes(
        flags, excess, profile, gain=GAIN, rnoise=RNOISE, evidence_chi2=25.0, alike=alike
    )
    assert res.n_rejected == 1 and not res.kept.any()
    # a detector's growth around it (neighbours at the noise level) changes nothing
    grown = flags.copy()
    grown[19:22, 19:22] = True
    res = reject_flux_changes(
        grown, excess, profile, gain=GAIN, rnoise=RNOISE, evidence_chi2=25.0, alike=alike
    )
    assert res.n_rejected == 1 and not res.kept.any()
    # two raised pixels are not a warm pixel
    flags[20, 21] = True
    excess[20, 21] = excess[20, 20]
    res = reject_flux_changes(
        flags, excess, profile, gain=GAIN, rnoise=RNOISE, evidence_chi2=25.0, alike=alike
    )
    assert res.n_rejected == 0


def test_drifting_line_is_rejected_with_the_evidence_rule():
    rng = np.random.default_rng(1)
    profile = _line()
    excess = 0.03 * profile + np.abs(_noise(rng, profile, 0.5))
    flags = excess > 0.03 * 10000
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE, evidence_chi2=25.0)
    assert res.n_features >= 1 and res.n_rejected == res.n_features


def test_alike_pixels_compares_the_highest_values_with_noise():
    from megara_crplugin.fluxchange import alike_pixels
    from megara_crplugin.result import StackStatistics

    med = np.array([[0.0, 0.0, 100.0]])
    mx = np.array([[0.5, 30.0, 100.0 + 1.5 * np.sqrt(2) * np.sqrt(100.0 + 9.0) + 0.1]])
    stack = np.stack([med - 1, med, mx])
    stats = StackStatistics(stack, med - 1, mx, med, (med + mx) / 2)
    assert alike_pixels(stats, 1.0, 3.0).tolist() == [[True, False, False]]


@pytest.mark.parametrize("density", [0.001, 0.2])
def test_window_growth_equals_the_maximum_filter(density):
    from scipy import ndimage

    from megara_crplugin._fcwindows import grown as _grown

    rng = np.random.default_rng(7)
    flags = rng.random((61, 47)) < density
    flags[0, 0] = flags[-1, -1] = flags[30, 0] = True  # corners and an edge
    for radius in (1, 6):
        want = ndimage.maximum_filter(flags, size=2 * radius + 1, mode="constant")
        assert np.array_equal(_grown(flags, radius), want)


def _cutout(name: str) -> tuple[dict, dict]:
    """A cut-out saved from a pipeline run (tests/data) and the test's keywords for it."""
    with np.load(Path(__file__).parent / "data" / name) as d:
        data = dict(d)
    kw = dict(
        gain=float(data["gain"]),
        rnoise=float(data["rnoise"]),
        nsigma=4.0,
        evidence_chi2=25.0,
        alike=data["alike"],
    )
    return data, kw


def test_cosmic_ray_on_a_noise_peak_of_min2d_is_not_a_flux_change():
    """A cut-out of a synthetic high-rate triplet with flux factors 0.8 / 1.0 / 1.2.

    A double hit (values 37.7, 31.0, 10.9 ADU on 5 e- of signal) sits where the
    clean value, and so min2d, is a +2 sigma noise peak: with min2d as the
    profile the fit "explains" the excess as a scaled copy of that peak; the
    profile taken no higher than the expected signal from the neighbours
    (what the pipeline passes) keeps it.
    """
    data, kw = _cutout("fluxchange_noise_peak.npz")
    flags, excess = data["flags"], data["excess"]
    assert flags[32, 32]
    raw = reject_flux_changes(flags, excess, data["min2d"], **kw)
    assert raw.rejected[32, 32]
    profile = np.minimum(data["min2d"], data["expected_min"])
    kept = reject_flux_changes(flags, excess, profile, **kw)
    assert kept.kept[32, 32]
    assert kept.n_rejected == 0


def test_a_pixel_hit_in_every_exposure_is_not_a_flux_change(monkeypatch):
    """A cut-out of a synthetic high-rate triplet with flux factors 0.8 / 1.0 / 1.2 (seed 2).

    One pixel is hit in all three exposures (28, 38 and 57 sigma above its
    expected signal): its ``median - min`` is only the difference of two rays
    (21 ADU), which the fit explains as a flux change, but its minimum lies
    34 sigma above what the neighbours predict, which no flux change does.
    """
    import megara_crplugin.fluxchange as fc

    data, kw = _cutout("fluxchange_triple_hit.npz")
    kw["at_flags"] = np.minimum(data["min2d"], data["expected_min"])
    flags, excess, min2d = data["flags"], data["excess"], data["min2d"]
    centre = (32, 32)
    assert flags[centre] and min2d[centre] - kw["at_flags"][centre] > 140
    assert reject_flux_changes(flags, excess, min2d, **kw).kept[centre]
    # alike highest values (a hot pixel, structure in every exposure): the rule does not apply
    alike = kw["alike"].copy()
    alike[centre] = True
    assert reject_flux_changes(flags, excess, min2d, **{**kw, "alike": alike}).rejected[centre]
    monkeypatch.setattr(fc, "K_LOWEST_HIT", np.inf)
    assert reject_flux_changes(flags, excess, min2d, **kw).rejected[centre]


def _fibre_frames(flux_factors, seed, hits):
    """Fibre-like exposures (gain 1, read noise 3.4) scaled by ``flux_factors``, double hits."""
    rng = np.random.default_rng(seed)
    y = np.arange(192)[:, None]
    centres = np.arange(3.0, 192, 6.6)
    signal = 4.0 + 200.0 * np.exp(-0.5 * ((y - centres[None, :]) / 1.6) ** 2).sum(axis=1)
    signal = np.broadcast_to(signal[:, None], (192, 256))
    frames = [rng.poisson(signal * f) + rng.normal(0, 3.4, signal.shape) for f in flux_factors]
    for yy, xx, amp in hits:  # frames 0 and 2, the weaker hit in the brighter exposure
        sigma = np.sqrt(signal[yy, xx] * flux_factors[2] + 3.4**2)
        frames[0][yy, xx] += 2.0 * amp * sigma
        frames[2][yy, xx] += amp * sigma
    return [f.astype(np.float32) for f in frames]


def test_known_flux_factors_are_not_a_flux_change_of_every_feature():
    ff = (0.8, 1.0, 1.2)
    rng = np.random.default_rng(3)
    rows = np.round(np.arange(3.0, 186, 6.6)).astype(int)  # on the fibres' peaks
    ys, xs = rng.choice(rows, 40), rng.integers(8, 248, 40)
    hits = [(int(y), int(x), 7.0) for y, x in zip(ys, xs, strict=True)]
    frames = _fibre_frames(ff, 5, hits)
    params = dict(
        crmethod="mmcosmic",
        interactive=False,
        gain=1.0,
        rnoise=3.4,
        bias=0.0,
        flux_factor=list(ff),
        mm_seed=1,
    )
    res = compute_crmasks(frames, params)
    found = sum(bool(res.masks["MEDIANCR"][y, x]) for y, x, _ in hits)
    # median2d - min2d carries the 0.8 / 1.2 factors everywhere: the flux-change test took
    # that for a flux change and dropped 6 of these 7-sigma double hits on the fibres' peaks
    assert found >= 39, found
    assert res.flux_changes["MEDIANCR"] == 0


def test_settled_groups_are_kept_untested_and_the_others_tested_as_before():
    """MEANCRT passes the exposures' detections as ``settled`` (issue 11)."""
    rng = np.random.default_rng(9)
    y = np.arange(81, dtype=float)[:, None]
    lines = 10.0 + 20000.0 * (
        np.exp(-0.5 * ((y - 20) / 1.2) ** 2) + np.exp(-0.5 * ((y - 60) / 1.2) ** 2)
    )
    profile = np.broadcast_to(lines, (81, 41)).copy()
    excess = 0.03 * profile + np.abs(_noise(rng, profile, 0.5))  # both lamps drifted by 3 %
    flags = excess > 0.03 * 10000
    plain = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE)
    assert plain.rejected[20].any() and plain.rejected[60].any()
    settled = np.zeros(flags.shape, dtype=bool)
    settled[15:26] = True  # the upper line's features lie wholly inside
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE, settled=settled)
    assert np.array_equal(res.kept[:40], flags[:40])  # kept untested
    assert np.array_equal(res.rejected[40:], plain.rejected[40:])  # the same outcome
    settled[20, 0] = False  # one pixel outside: the upper group is tested again
    res = reject_flux_changes(flags, excess, profile, gain=GAIN, rnoise=RNOISE, settled=settled)
    assert np.array_equal(res.rejected, plain.rejected)


def test_all_settled_returns_the_flags_untested():
    profile = _line()
    flags = 0.03 * profile > 300
    res = reject_flux_changes(
        flags, 0.03 * profile, profile, gain=GAIN, rnoise=RNOISE, settled=flags.copy()
    )
    assert np.array_equal(res.kept, flags) and res.n_features == 0 and res.n_rejected == 0


@pytest.mark.parametrize("maps", [False, True])
def test_alike_at_pixels_equals_the_full_frame_map(maps):
    from megara_crplugin.fluxchange import alike_at, alike_values

    rng = np.random.default_rng(11)
    median = rng.uniform(-5, 500, SHAPE).astype(np.float32)
    high = (median + rng.normal(0, 20, SHAPE)).astype(np.float32)
    gain = np.full(SHAPE, 1.3) if maps else 1.3
    rnoise = rng.uniform(2.5, 3.5, SHAPE) if maps else np.asarray(3.0)
    full = alike_values(median, high, gain, rnoise)
    assert 0 < full.sum() < full.size
    ys, xs = rng.integers(0, SHAPE[0], 300), rng.integers(0, SHAPE[1], 300)
    assert np.array_equal(alike_at(median, high, gain, rnoise)(ys, xs), full[ys, xs])
