"""Benchmark of the report writers on a full MEGARA-sized frame (4112 x 4096).

Run from the repository root::

    python benchmarks/bench_reports.py [--shape 4112 4096] [--features 2000] [--maxplots 10]

It builds a fake mask-computation result (tests/report_fixtures.py) with the
requested number of two-exposure hits, then times every PNG figure, the
feature PDFs (per page) and the whole ``write_reports`` call.  CPU seconds
(process time) are printed beside wall seconds, since the wall time of a
shared machine varies with its load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from report_fixtures import make_fake_result  # noqa: E402

from megara_crplugin.reports import planned_figures, write_reports  # noqa: E402
from megara_crplugin.reports._common import save_figure  # noqa: E402
from megara_crplugin.reports.features import FeaturePageRenderer, _pdf_pages  # noqa: E402


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=2, default=(4112, 4096), metavar=("NY", "NX"))
    parser.add_argument("--features", type=int, default=2000)
    parser.add_argument("--maxplots", type=int, default=10)
    parser.add_argument("--pages", type=int, default=20, help="features rendered for page cost")
    args = parser.parse_args(argv)

    with Clock() as c:
        result = make_fake_result(
            shape=tuple(args.shape), n_random_features=args.features, maxplots=args.maxplots
        )
    print(
        f"fake result {args.shape[0]}x{args.shape[1]}, {len(result.features)} features: "
        f"{c.wall:.1f} s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(f"{'figure':40s} {'wall s':>8s} {'cpu s':>8s}")
        for name, draw in planned_figures(result):
            with Clock() as c:
                save_figure(draw(), out / name)
            print(f"{name:40s} {c.wall:8.2f} {c.cpu:8.2f}")

        renderer = FeaturePageRenderer(result)
        features = result.features[: args.pages]
        with Clock() as c, _pdf_pages(out / "pages.pdf") as pdf:
            for feature in features:
                renderer.render(feature, pdf)
        n_pages = 2 * len(features)
        print(
            f"PDF pages: {n_pages} in {c.wall:.2f} s wall / {c.cpu:.2f} s cpu = "
            f"{c.wall / n_pages:.3f} s wall, {c.cpu / n_pages:.3f} s cpu per page"
        )

        with Clock() as c:
            written = write_reports(result, out / "all")
        print(
            f"write_reports (maxplots={args.maxplots}): {len(written)} files, "
            f"{c.wall:.1f} s wall / {c.cpu:.1f} s cpu"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
