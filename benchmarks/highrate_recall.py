"""Recall near the limit on high-rate synthetic MEGARA-like triplets (issue 9, item 5).

For each seed: a ``rate='high'`` triplet (1,500 random events per Mpix per
exposure, faint sky) with designed double hits, run through
``compute_crmasks`` with the defaults (only gain/rnoise/bias/interactive
given), and these figures:

* events: designed double hits raising the noiseless median by > 5 sigma
  with at least one pixel in MEDIANCR;
* pixels: pixels whose median is raised by > 5 sigma (designed and chance
  coincidences) that are in MEDIANCR;
* false features: MEDIANCR features with no multi-hit pixel within 2 px,
  per Mpix;
* meancr2: pixels per 10^4 whose meancr2 residual exceeds 5 sigma.

Scenarios: ``default`` (flux factors 1, no offsets), ``flux`` (flux factors
0.8/1.0/1.2 with ``flux_factor: auto``) and ``offsets`` (offsets of +-0.5 px,
measured by cross-correlation on the whole frame).

Usage::

    python benchmarks/highrate_recall.py --size 1024 --seeds 1 2 3 \
        --method mm_pycosmic --scenario default

The full MEGARA size (``--size 4112x4096``) takes minutes and several GiB per
seed: run it with ``nice``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import ndimage

from megara_crplugin.combination import combine
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames

#: Designed double hits per Mpix in the measured sets.
DOUBLES_PER_MPIX = 100
#: Fraction of them that are faint (weaker hit 2-16 sigma in the high-rate mode).
FAINT_FRACTION = 0.5
SCENARIOS = {
    "default": {},
    "flux": {"flux_factors": (0.8, 1.0, 1.2)},
    "offsets": {"offsets": ((0.0, 0.0), (0.5, -0.5), (-0.5, 0.5))},
}


def parameters(sset, method: str, scenario: str, **extra) -> dict:
    """The user's YAML: images, gain, rnoise, bias, interactive (+ the scenario's key)."""
    out = {
        "crmethod": method,
        "interactive": False,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": float(sset.bias),
    }
    if scenario == "flux":
        out["flux_factor"] = "auto"
    if scenario == "offsets":
        ny, nx = sset.shape
        out["mm_crosscorr_region"] = [1, nx, 1, ny]
    out.update(extra)
    return out


def make_set(shape, seed: int, scenario: str = "default"):
    """The high-rate triplet of ``seed``: designed double hits per Mpix, half faint."""
    n_doubles = max(1, round(DOUBLES_PER_MPIX * shape[0] * shape[1] / 2**20))
    return make_megara_like_frames(
        shape,
        seed=seed,
        rate="high",
        n_double_hits=n_doubles,
        faint_fraction=FAINT_FRACTION,
        **SCENARIOS[scenario],
    )


def parse_arguments(description: str, argv=None, extra=None):
    """``--size``, ``--seeds``, ``--method``, ``--scenario`` (+ ``extra(parser)``): args, shape."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--size", default="1024", help="N (square) or NYxNX")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--method", default="mm_pycosmic")
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="default")
    if extra is not None:
        extra(ap)
    args = ap.parse_args(argv)
    dims = [int(v) for v in args.size.lower().split("x")]
    return args, (dims[0], dims[-1])


def measure(shape, seed: int, method: str, scenario: str = "default", **extra) -> dict:
    """Run one high-rate triplet and return the figures (see the module docstring)."""
    npix = shape[0] * shape[1]
    sset = make_set(shape, seed, scenario)
    frames = list(sset.frames)
    t0 = time.perf_counter()
    res = compute_crmasks(frames, parameters(sset, method, scenario, **extra))
    elapsed = time.perf_counter() - t0
    med = res.masks["MEDIANCR"]
    events = sset.double_hit_events(min_sigma=5)
    raised = sset.median_raised_mask(min_sigma=5)
    near_multi = ndimage.binary_dilation(
        sset.multi_hit, structure=np.ones((3, 3), bool), iterations=2
    )
    missed = [e for e in events if not med[e.ys, e.xs].any()]
    out = {
        "seed": seed,
        "events": len(events),
        "events_caught": len(events) - len(missed),
        "pixels": int(raised.sum()),
        "pixels_caught": int((raised & med).sum()),
        "features": len(res.features),
        "false_features": sum(1 for f in res.features if not near_multi[f.ys, f.xs].any()),
        "mpix": npix / 1e6,
        "seconds": round(elapsed, 1),
        "missed": [
            {"y": int(e.ys[0]), "x": int(e.xs[0]), "signal": float(sset.signal[e.ys[0], e.xs[0]])}
            for e in missed
        ],
    }
    ff = np.asarray(sset.flux_factors, float)
    if scenario == "default":
        ref = sset.signal
        sig1 = np.sqrt(np.clip(ref, 0, None) / sset.gain + sset.rnoise**2)
        comb = combine(frames, "meancr2", masks=res.crmasks, bias=sset.bias)
        resid = comb.data.astype(np.float64) - ref
        z = resid / (sig1 / np.sqrt(np.maximum(comb.map, 1)))
        out["meancr2_hot_per_1e4"] = float(np.count_nonzero(z > 5) / z.size * 1e4)
    out["flux_factors"] = ff.tolist()
    return out


def summary(runs: list[dict]) -> dict:
    """Totals over seeds."""
    ev = sum(r["events"] for r in runs)
    evc = sum(r["events_caught"] for r in runs)
    px = sum(r["pixels"] for r in runs)
    pxc = sum(r["pixels_caught"] for r in runs)
    mpix = sum(r["mpix"] for r in runs)
    out = {
        "events": f"{evc}/{ev} ({evc / max(ev, 1):.1%})",
        "pixels": f"{pxc}/{px} ({pxc / max(px, 1):.1%})",
        "false_per_mpix": round(sum(r["false_features"] for r in runs) / mpix, 2),
        "seconds": sum(r["seconds"] for r in runs),
    }
    hot = [r["meancr2_hot_per_1e4"] for r in runs if "meancr2_hot_per_1e4" in r]
    if hot:
        out["meancr2_hot_per_1e4_max"] = round(max(hot), 3)
    return out


def main(argv=None) -> None:
    def more(ap):
        ap.add_argument("--set", nargs="*", default=[], help="extra KEY=JSON parameters")

    args, shape = parse_arguments(__doc__.splitlines()[0], argv, more)
    extra = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    runs = []
    for seed in args.seeds:
        r = measure(shape, seed, args.method, args.scenario, **extra)
        print(json.dumps(r), flush=True)
        runs.append(r)
    print("SUMMARY", args.method, args.scenario, shape, json.dumps(summary(runs)), flush=True)


if __name__ == "__main__":
    main()
