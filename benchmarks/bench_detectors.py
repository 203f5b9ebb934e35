"""Seconds per call of every available Aux.Cosmic detector on a synthetic MEGARA frame.

Not a test: on a full 4112 x 4096 frame it takes minutes.  Usage::

    python benchmarks/bench_detectors.py                       # full frame, all detectors
    python benchmarks/bench_detectors.py --shape 1024 1024 --detectors lacosmic pycosmic
    python benchmarks/bench_detectors.py --compare-full        # also time run 2 on the full frame

Two images are timed per detector: one exposure (all its cosmic rays) and the
median of three exposures (few residual cosmic rays), the two kinds of call
the core makes (N + 3 calls per run: median, N exposures, mean, meancr).
With ``--compare-full`` the two-pass detectors are also run with the second
pass on the whole frame, and the masks are checked to be identical.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from megara_crplugin.detectors import MissingOptionalDependency, get_detector
from megara_crplugin.synthetic import make_megara_like_frames


def _time(det, image, gain, rnoise):
    """Wall-clock and CPU seconds (all threads) of one call, and its result."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = det.detect(image, gain=gain, rnoise=rnoise)
    return (time.perf_counter() - t0, time.process_time() - c0), result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=2, default=(4112, 4096), metavar=("NY", "NX"))
    parser.add_argument(
        "--detectors", nargs="+", default=["lacosmic", "pycosmic", "deepcr", "conn"]
    )
    parser.add_argument("--images", nargs="+", default=["exposure", "median"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compare-full", action="store_true")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    sset = make_megara_like_frames(tuple(args.shape), n_frames=3, seed=args.seed)
    stack = sset.frames - np.float32(sset.bias)
    images = {"exposure": stack[0], "median": np.median(stack, axis=0).astype(np.float32)}
    truth = {"exposure": sset.truth[0], "median": sset.multi_hit}
    print(f"synthetic {args.shape[0]}x{args.shape[1]} x3 built in {time.perf_counter() - t0:.1f} s")
    print(
        f"{'detector':10s} {'image':9s} {'mode':9s} {'wall s':>8s} {'CPU s':>8s} "
        f"{'CR px':>8s} {'recall':>7s}"
    )
    for name in args.detectors:
        try:
            t0 = time.perf_counter()
            det = get_detector(name, {})
            load = time.perf_counter() - t0
        except MissingOptionalDependency as exc:
            print(f"{name:10s} skipped: {exc}")
            continue
        print(f"{name:10s} {'-':9s} {'load':9s} {load:8.2f}")
        for label in args.images:
            image = images[label]
            (wall, cpu), res = _time(det, image, sset.gain, sset.rnoise)
            hit = truth[label]
            recall = (res.mask & hit).sum() / max(hit.sum(), 1)
            print(
                f"{name:10s} {label:9s} {'windowed':9s} {wall:8.2f} {cpu:8.2f} "
                f"{int(res.mask.sum()):8d} {recall:7.3f}"
            )
            if args.compare_full and hasattr(det, "windowed"):
                det.windowed = False
                (wall, cpu), full = _time(det, image, sset.gain, sset.rnoise)
                det.windowed = True
                same = np.array_equal(full.mask, res.mask)
                print(
                    f"{name:10s} {label:9s} {'full':9s} {wall:8.2f} {cpu:8.2f} "
                    f"{int(full.mask.sum()):8d} {'' if same else 'MASKS DIFFER'}"
                )


if __name__ == "__main__":
    main()
