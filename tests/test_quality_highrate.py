"""Recall near the limit on high-rate synthetic MEGARA-like triplets (issue 9, item 5).

``make_megara_like_frames(rate="high")``: 1,500 random events per Mpix per
exposure, a faint sky (most inter-fibre pixels below 20 e-) and 100 designed
double hits per Mpix, half of them faint (weaker hit 2-16 sigma).  Default
parameters (only gain/rnoise/bias/interactive given).  Every run is computed
once per module and reduced to numbers; they are printed (``pytest -s``).
``benchmarks/highrate_recall.py`` measures the same on more seeds and at full
size; the figures are in docs/divergences.md.

Measured on seeds 1-2 with every issue-9 mechanism on (the defaults: Aux
corroboration and confirmation, defects, flux-change rejection with its
evidence rule, expected-signal test with lines read in three rows a side):
mm_pycosmic 174/176 events (98.9%), 98.8% of the pixels, 0.48 false features
per Mpix; mmcosmic the same; flux factors 0.8/1.0/1.2 with ``flux_factor:
auto`` 172/176 (97.7%), 0.95 per Mpix; +-0.5 px offsets with cross-correlation
173/177 (97.7%), 0.48 per Mpix (1.43 before MEDIANCR's Aux detections needed
the expected signal's confirmation). On seeds 1-10
(``benchmarks/highrate_recall.py``) 98.0%, 98.1% and 98.1% of the events,
0.76, 0.29 and 0.38 false features per Mpix (December 2026). With the *true* signal
(``benchmarks/highrate_oracle.py``) the same test finds 98.8% (default) and
98.5% (offsets) of the events at 0.76 and 0.57 false features per Mpix: the
issue's 99% at <= 1 false feature per Mpix lies above what the per-pixel test
can reach with its hot-pixel rule. The misses left are events barely above 5
sigma that noise pulled under the threshold, estimates pulled up by a line or
a cosmic ray beside the event, triple hits raised alike in all exposures
(taken for a hot pixel with a cosmic ray on top), and, with offsets, estimates
less precise on sharp structure (``benchmarks/highrate_misses.py``). The
issue's 99% of the events is NOT reached (98% with offsets and with flux
factors is, on ten seeds); the tests below
hold what is reached (a regression guard, one or two events of margin), not
the target.
10 pipeline runs at 1024 x 1024: about 2.5 minutes on the 2-core VM.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from megara_crplugin.combination import combine
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames

pytestmark = pytest.mark.slow

SHAPE = (1024, 1024)
SEEDS = (1, 2)
SCENARIOS = {
    "default": {},
    "flux": {"flux_factors": (0.8, 1.0, 1.2)},
    "offsets": {"offsets": ((0.0, 0.0), (0.5, -0.5), (-0.5, 0.5))},
}


def _measure(seed: int, method: str = "mm_pycosmic", scenario: str = "default") -> dict:
    sset = make_megara_like_frames(
        SHAPE, seed=seed, rate="high", n_double_hits=100, faint_fraction=0.5, **SCENARIOS[scenario]
    )
    params = {
        "crmethod": method,
        "interactive": False,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": float(sset.bias),
    }
    if scenario == "flux":
        params["flux_factor"] = "auto"
    if scenario == "offsets":
        params["mm_crosscorr_region"] = [1, SHAPE[1], 1, SHAPE[0]]
    frames = list(sset.frames)
    res = compute_crmasks(frames, params)
    med = res.masks["MEDIANCR"]
    events = sset.double_hit_events(min_sigma=5)
    raised = sset.median_raised_mask(min_sigma=5)
    near_multi = ndimage.binary_dilation(
        sset.multi_hit, structure=np.ones((3, 3), bool), iterations=2
    )
    out = {
        "events": len(events),
        "caught": sum(bool(med[e.ys, e.xs].any()) for e in events),
        "pixels": int(raised.sum()),
        "pixels_caught": int((raised & med).sum()),
        "false": sum(1 for f in res.features if not near_multi[f.ys, f.xs].any()),
        "false_mm": sum(
            1
            for f in res.features
            if not near_multi[f.ys, f.xs].any()
            and np.isin(res.targets["MEDIANCR"].code[f.ys, f.xs], (2, 4)).any()
        ),
        "mpix": SHAPE[0] * SHAPE[1] / 1e6,
    }
    if scenario == "default":
        sig1 = np.sqrt(np.clip(sset.signal, 0, None) / sset.gain + sset.rnoise**2)
        comb = combine(frames, "meancr2", masks=res.crmasks, bias=sset.bias)
        z = (comb.data.astype(np.float64) - sset.signal) / (sig1 / np.sqrt(np.maximum(comb.map, 1)))
        out["meancr2_hot_per_1e4"] = np.count_nonzero(z > 5) / z.size * 1e4
    return out


def _totals(runs, label):
    ev = sum(r["events"] for r in runs)
    caught = sum(r["caught"] for r in runs)
    px = sum(r["pixels"] for r in runs)
    pxc = sum(r["pixels_caught"] for r in runs)
    false = sum(r["false"] for r in runs) / sum(r["mpix"] for r in runs)
    print(
        f"\n{label}: events {caught}/{ev} ({caught / ev:.1%}), pixels {pxc}/{px} "
        f"({pxc / px:.1%}), false features {false:.2f} per Mpix"
    )
    return caught / ev, pxc / px, false, ev


@pytest.fixture(scope="module")
def default_runs():
    return [_measure(seed) for seed in SEEDS]


def test_defaults_find_faint_double_hits_on_low_signal(default_runs):
    events, pixels, false, n = _totals(default_runs, f"mm_pycosmic, seeds {SEEDS}")
    assert n >= 150  # ~85 events per Mpix raise the median by > 5 sigma
    assert events >= 0.98  # the issue asks 0.99: 174/176 measured
    assert pixels >= 0.98  # 763/772
    assert false <= 1.0


def test_meancr2_leaves_few_cosmic_ray_residuals(default_runs):
    hot = [r["meancr2_hot_per_1e4"] for r in default_runs]
    print(f"\nmeancr2 pixels per 10^4 with a CR residual > 5 sigma: {hot}")
    assert max(hot) <= 1.0


def test_mmcosmic_alone_improves():
    runs = [_measure(seed, "mmcosmic") for seed in SEEDS]
    events, pixels, false, _ = _totals(runs, f"mmcosmic, seeds {SEEDS}")
    # without the expected-signal test: 82 % of the events and 92 % of the pixels
    assert events >= 0.98  # 174/176 measured
    assert pixels >= 0.98
    assert false <= 1.0


def test_mmcosmic_with_offsets_by_cross_correlation():
    """Raw exposures correlated after a 3 x 3 median filter (double hits at zero lag)."""
    runs = [_measure(seed, "mmcosmic", "offsets") for seed in SEEDS]
    events, _, false, _ = _totals(runs, f"mmcosmic, offsets, seeds {SEEDS}")
    assert events >= 0.96  # 174/177 measured (171 without the filter)
    assert false <= 1.0  # 0.48 per Mpix measured (2.38 without the filter)


@pytest.mark.parametrize("scenario", ["flux", "offsets"])
def test_flux_factors_and_offsets(scenario):
    runs = [_measure(seed, scenario=scenario) for seed in SEEDS]
    events, _, false, n = _totals(runs, f"mm_pycosmic, {scenario}, seeds {SEEDS}")
    assert n >= 160
    assert events >= {"flux": 0.97, "offsets": 0.96}[scenario]  # 97.7 % and 97.7 % measured
    assert false <= {"flux": 3.0, "offsets": 1.0}[scenario]  # 0.95 and 0.48 per Mpix measured
    # those with M.M. pixels stay rare (the rest are PyCosmic-only on the median)
    false_mm = sum(r["false_mm"] for r in runs) / sum(r["mpix"] for r in runs)
    print(f"false features with M.M. pixels: {false_mm:.2f} per Mpix")
    assert false_mm <= 3.0
