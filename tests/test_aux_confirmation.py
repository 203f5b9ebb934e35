"""MEDIANCR's Aux detections need the expected-signal test's confirmation (issue 9, item 1)."""

from __future__ import annotations

import numpy as np

from megara_crplugin.config import validate_parameters
from megara_crplugin.expected import estimate_expected
from megara_crplugin.expected_stage import aux_confirmation, confirmed

GAIN, RNOISE = 1.0, 3.4
SIGMA = np.sqrt(40.0 / GAIN + RNOISE**2)


def _stack():
    rng = np.random.default_rng(3)
    stack = rng.poisson(np.full((3, 40, 50), 40.0) * GAIN) / GAIN
    stack = (stack + rng.normal(0, RNOISE, stack.shape)).astype(np.float32)
    stack[0, 10, 10] += 200 * SIGMA  # one exposure hit: not the median
    stack[[0, 2], 20, 20] += [9 * SIGMA, 6 * SIGMA]  # a faint double hit
    stack[:, 30, 30] += 60 * SIGMA  # raised alike in every exposure
    return stack


def test_confirmed_counts_the_exposures_above_the_expected_signal():
    stack = _stack()
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    got = confirmed(stack, exp)
    assert got[20, 20] and got[30, 30]  # the count only: hot pixels are corroboration's part
    assert not got[10, 10]
    assert got.sum() == 2  # no noise pixel of the 2,000 passes 4 sigma in two exposures
    stack[2, 20, 20] -= 3 * SIGMA  # the weaker hit now about 2 sigma: below K_CONFIRM
    assert not confirmed(stack, estimate_expected(stack, gain=GAIN, rnoise=RNOISE))[20, 20]


def test_aux_confirmation_keeps_only_confirmed_aux_detections():
    stack = _stack()
    cfg = validate_parameters({"gain": GAIN, "rnoise": RNOISE, "bias": 0.0})
    exp = estimate_expected(stack, gain=GAIN, rnoise=RNOISE)
    aux = np.zeros(stack.shape[1:], bool)
    aux[[10, 20, 5], [10, 20, 5]] = True  # a single hit, a double hit, a flat pixel
    kept = aux_confirmation(cfg, exp, stack)(aux)
    assert np.argwhere(kept).tolist() == [[20, 20]]
    assert aux_confirmation(cfg, None, stack) is None  # mm_expected_sigma off: no test
