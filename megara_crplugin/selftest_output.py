"""Files and text of the self-test: ``selftest.csv``, ``selftest.png``, the summary lines.

Both files are written under temporary names and renamed only when both are
complete; existing files are never overwritten (the caller is told before any
computation, see :func:`check_free`).
"""

from __future__ import annotations

import csv
import io
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .selftest import AMPLITUDE_BINS, SelfTestResult, recall_table

__all__ = [
    "CSV_COLUMNS",
    "OUTPUT_NAMES",
    "check_free",
    "selftest_to",
    "summary_lines",
    "write_outputs",
]

#: Files written by the self-test (in this order).
OUTPUT_NAMES = ("selftest.csv", "selftest.png")

#: Columns of ``selftest.csv``.
CSV_COLUMNS = (
    "event",
    "kind",
    "footprint",
    "frames",
    "x",
    "y",
    "npix",
    "amplitude_sigma",
    "amplitude_adu",
    "signal_adu",
    "sigma_adu",
    "target",
    "detected",
    "npix_masked",
    "run",
)


def check_free(output_dir: str | Path, option: str = "--output_dir") -> None:
    """Raise ``FileExistsError`` (one line) when a self-test file is already there."""
    for name in OUTPUT_NAMES:
        path = Path(output_dir) / name
        if path.exists() or path.is_symlink():
            raise FileExistsError(
                f"{option} {output_dir}: {name} already exists; "
                "remove it or choose another folder (nothing is overwritten)"
            )


def csv_text(result: SelfTestResult) -> str:
    """The CSV table: one row per event, FITS 1-based ``x``, ``y`` and frame numbers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for j, ev in enumerate(result.events):
        y, x = ev.peak
        writer.writerow(
            [
                j + 1,
                ev.kind,
                ev.footprint,
                " ".join(str(i + 1) for i in ev.frames),
                x + 1,
                y + 1,
                ev.ys.size,
                f"{ev.amplitude_sigma:.3f}",
                f"{ev.amplitude_sigma * ev.sigma:.2f}",
                f"{ev.signal:.2f}",
                f"{ev.sigma:.3f}",
                result.targets[j],
                int(result.detected[j]),
                int(result.npix_masked[j]),
                int(result.rounds[j]),
            ]
        )
    return buf.getvalue()


def summary_lines(result: SelfTestResult, bins=AMPLITUDE_BINS) -> list[str]:
    """Recall per kind and amplitude bin, then the unexplained detections."""
    kinds = np.array([ev.kind for ev in result.events])
    amp = np.array([ev.amplitude_sigma for ev in result.events])
    lines = [
        f"self-test: {len(result.events)} injected events in {result.n_frames} exposures, "
        f"{int(result.rounds.max(initial=0))} run(s)",
        "kind    amplitude (sigma)   events  detected  recall",
    ]
    for kind in ("double", "single"):
        sel = kinds == kind
        if not sel.any():
            continue
        for lo, hi, n, d in recall_table(amp[sel], result.detected[sel], bins):
            rec = f"{100.0 * d / n:6.1f} %" if n else "     -"
            lines.append(f"{kind:6s}  {lo:6.0f} - {hi:<6.0f}     {n:7d}  {d:8d}  {rec}")
        total = int(sel.sum())
        lines.append(
            f"{kind:6s}  all                 {total:7d}  {int(result.detected[sel].sum()):8d}"
            f"  {100.0 * result.detected[sel].mean():6.1f} %"
        )
    per_mask = ", ".join(f"{k} {v}" for k, v in result.unexplained.items())
    mpix = result.shape[0] * result.shape[1] / 1e6 * max(1, int(result.rounds.max(initial=1)))
    lines.append(
        f"unexplained detections (not in the un-injected run, touching no injection): "
        f"{result.n_unexplained} groups ({result.n_unexplained / mpix:.2f} per Mpix and run)"
        + (f" [{per_mask}]" if per_mask else "")
    )
    return lines


def write_outputs(result: SelfTestResult, output_dir: str | Path, *, title: str = "") -> list[Path]:
    """Write ``selftest.csv`` and ``selftest.png`` into ``output_dir`` (no overwrite).

    Raises
    ------
    FileExistsError
        When either file exists already (checked again just before renaming).
    """
    from .reports.selftest_figure import selftest_figure

    out = Path(output_dir)
    check_free(out)
    paths = [out / name for name in OUTPUT_NAMES]
    with ExitStack() as stack:
        tmp_csv, tmp_png = (stack.enter_context(atomic_path(p)) for p in paths)
        tmp_csv.write_text(csv_text(result), encoding="utf-8")
        fig = selftest_figure(result, title=title)
        fig.savefig(tmp_png, format="png", dpi=120)
        check_free(out)
    return paths


def selftest_to(folder, frames, config, n_events: int, base_masks=None, report=print) -> list[Path]:
    """Run the self-test (``n_events`` events, seed 0) and write its files into ``folder``.

    Used by the numina recipe; ``report`` receives the progress and summary lines.
    """
    from .selftest import run_selftest

    check_free(folder)
    result = run_selftest(frames, config, n_events=n_events, base_masks=base_masks, report=report)
    paths = write_outputs(result, folder, title=f"self-test ({len(frames)} exposures)")
    for line in summary_lines(result):
        report(line)
    return paths
