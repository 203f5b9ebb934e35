"""The ceiling of MEDIANCR's recall on high-rate triplets: the test with the true signal.

``highrate_recall.py`` measures the pipeline, whose expected signal is
estimated from the neighbours.  This script applies MEDIANCR's per-pixel test
to the generator's *true* expected signal instead (an oracle): ``N // 2 + 1``
exposures above ``E + k' sigma`` (``k'``: ``k`` at its normal-tail level),
with and without the hot-pixel rule (values raised alike in every exposure,
none clean, are not cosmic rays).  What the oracle misses, no estimate finds;
its false features (flagged pixels with no multi-hit pixel within 2 px,
dilated by 1 px and counted as features, as in ``highrate_recall.py``) are
the noise's share at that ``k``.

Usage::

    python benchmarks/highrate_oracle.py --seeds 1 2 3 4 5 6 7 8 9 10 --scenario default
"""

from __future__ import annotations

import highrate_recall as hr  # benchmarks/ is the script's folder
import numpy as np
from scipy import ndimage

from megara_crplugin._tails import level, skewness
from megara_crplugin.expected import K_ALIKE, K_CLEAN

#: Thresholds (sigma) tried; 4.3 is the default ``mm_expected_sigma``.
KS = (3.8, 4.0, 4.3, 4.5)


def _hot_like(stack, true, sigma, gain) -> np.ndarray:
    """No exposure within K_CLEAN sigma and the N - 1 lowest values alike (the pipeline's rule)."""
    z = (stack - true) / sigma
    clean = (z <= K_CLEAN).sum(axis=0)
    low = np.sort(stack, axis=0)[:-1]
    excess = np.maximum(low.mean(axis=0) - true.mean(axis=0), 0)
    sig = np.sqrt(sigma.mean(axis=0) ** 2 + excess / gain)
    n, needed = stack.shape[0], stack.shape[0] // 2 + 1
    return (clean < max(n - needed, 1)) & (low[-1] - low[0] < K_ALIKE * sig)


def oracle(shape, seed: int, scenario: str) -> dict:
    """Caught events, events and false features for each k, with and without the hot-pixel rule."""
    sset = hr.make_set(shape, seed, scenario)
    stack = np.stack([np.asarray(f, np.float32) - np.float32(sset.bias) for f in sset.frames])
    true = np.asarray(sset.expected, np.float32)
    sigma = np.sqrt(np.clip(true, 0, None) / sset.gain + sset.rnoise**2)
    skew = skewness(true, sigma, sset.gain)
    hot = _hot_like(stack, true, sigma, sset.gain)
    near = ndimage.binary_dilation(sset.multi_hit, np.ones((3, 3), bool), iterations=2)
    events = sset.double_hit_events(min_sigma=5)
    out = {}
    for k in KS:
        raised = (stack - true > level(k, skew) * sigma).sum(axis=0) >= stack.shape[0] // 2 + 1
        for rule, flag in (("plain", raised), ("hot-pixel rule", raised & ~hot)):
            grown = ndimage.binary_dilation(flag, np.ones((3, 3), bool))
            lab, n = ndimage.label(grown, np.ones((3, 3)))
            false = n - np.unique(lab[near & (lab > 0)]).size
            caught = sum(1 for e in events if flag[e.ys, e.xs].any())
            out[(k, rule)] = np.array([caught, len(events), false])
    return out


def main(argv=None) -> None:
    args, shape = hr.parse_arguments(__doc__.splitlines()[0], argv)
    total = {}
    for seed in args.seeds:
        for key, row in oracle(shape, seed, args.scenario).items():
            total[key] = total.get(key, 0) + row
    mpix = len(args.seeds) * shape[0] * shape[1] / 1e6
    print(f"oracle, {args.scenario}, seeds {args.seeds}, {shape[0]}x{shape[1]}:")
    for (k, rule), (caught, n, false) in total.items():
        print(
            f"  k={k:.1f} {rule:15s} events {caught}/{n} ({caught / n:.1%}), "
            f"false features {false / mpix:.2f} per Mpix"
        )


if __name__ == "__main__":
    main()
