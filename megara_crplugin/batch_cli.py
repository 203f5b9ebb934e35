"""``megara-crmasks batch``: many OBs on dask.distributed (see ``docs/batch.md``).

::

    megara-crmasks batch OB.yaml [OB.yaml ...] --output_dir DIR [--scheduler ADDRESS]
                         [--workers N] [--memory-per-job GB] [--resume] [--no-reports]

:func:`add_arguments` fills a parser (so the command tree can host it) and
:func:`run` executes the parsed arguments; :func:`main` does both.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .safety import forget_keyboard_interrupt

__all__ = ["add_arguments", "main", "run"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of GB > 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``batch`` to ``parser`` and return it.

    ``--log-level`` and ``--quiet`` come from the command tree
    (:mod:`megara_crplugin._cli_parser`).
    """
    parser.add_argument(
        "params", nargs="+", metavar="OB.yaml", help="parameter files of the main form, one per OB"
    )
    parser.add_argument(
        "--output_dir",
        required=True,
        metavar="DIR",
        help="results go to DIR/<file stem>/, summary to DIR/batch_summary.csv (created)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="existing dask scheduler (tcp://host:port); default: a local cluster",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="workers of the local cluster (default: cores, as many as fit in memory)",
    )
    parser.add_argument(
        "--memory-per-job",
        dest="memory_per_job",
        type=_positive_float,
        metavar="GB",
        help="memory of one OB job (GB): sizes the local cluster; tasks ask for this much "
        "of the workers' MEMORY resource",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip OBs with complete results and unchanged inputs and parameters",
    )
    parser.add_argument("--no-reports", action="store_true", help="skip figures and tables")
    return parser


class _Bar:
    """One rich progress bar over the OBs: done / running / failed (and skipped)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("OBs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.counts = {"done": 0, "failed": 0, "skipped": 0}
        self.running: set[str] = set()
        self.task = None

    def _describe(self) -> str:
        c = self.counts
        text = f"done {c['done']} · running {len(self.running)} · failed {c['failed']}"
        return text + (f" · skipped {c['skipped']}" if c["skipped"] else "")

    def __call__(self, event: str, ob: str, result: Any) -> None:
        if event == "start":
            self.task = self.progress.add_task(self._describe(), total=int(ob))
            self.progress.start()
            return
        if event in ("running", "restarted"):
            self.running.add(ob)
        else:
            self.running.discard(ob)
            self.counts[result.status] += 1
            self.progress.advance(self.task)
        self.progress.update(self.task, description=self._describe())

    def stop(self) -> None:
        self.progress.stop()


def _table(console: Any, results) -> None:
    from rich.table import Table

    table = Table(title="megara-crmasks batch")
    for col, just in (("OB", "left"), ("status", "left"), ("time s", "right")):
        table.add_column(col, justify=just)
    table.add_column("MEDIANCR px", justify="right")
    table.add_column("warnings / error")
    style = {"done": "green", "skipped": "cyan", "failed": "bold red"}
    for r in results:
        note = r.error if r.status == "failed" else "; ".join(r.warnings)
        table.add_row(
            r.ob,
            f"[{style[r.status]}]{r.status}[/]",
            f"{r.seconds:.1f}",
            "" if r.mediancr_pixels is None else str(r.mediancr_pixels),
            note,
        )
    console.print(table)


def run(args: argparse.Namespace) -> int:
    """Run the batch of the parsed arguments; print the summary; return the exit status."""
    import distributed  # noqa: F401  (its import sets its loggers' levels: set ours after)

    from .batch import BatchError, run_batch
    from .reports.progress import setup_logging

    level = getattr(args, "log_level", "INFO")
    if getattr(args, "quiet", False) and level in ("DEBUG", "INFO"):
        level = "WARNING"
    console = setup_logging(level)
    for noisy in ("distributed", "tornado", "bokeh"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    bar = _Bar(console)
    try:
        result = run_batch(
            args.params,
            args.output_dir,
            scheduler=args.scheduler,
            workers=args.workers,
            memory_per_job=args.memory_per_job,
            resume=args.resume,
            reports=not args.no_reports,
            on_update=bar,
        )
    except BatchError as exc:
        print(f"megara-crmasks batch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"megara-crmasks batch: interrupted; finished OBs are in {args.output_dir}, "
            "unfinished ones left nothing",
            file=sys.stderr,
        )
        forget_keyboard_interrupt()
        return 130
    finally:
        bar.stop()
    _table(console, result.results)
    console.print(f"summary: {result.summary_csv}")
    for r in result.failed:
        print(f"megara-crmasks batch: {r.ob} failed: {r.error}", file=sys.stderr)
    return result.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``megara-crmasks batch`` (arguments after ``batch``)."""
    parser = argparse.ArgumentParser(
        prog="megara-crmasks batch",
        description="Reduce many OBs (one parameter file each) on dask.distributed.",
    )
    from .reports.progress import LOG_LEVELS

    add_arguments(parser).add_argument(
        "--log-level", default="INFO", choices=LOG_LEVELS, type=str.upper
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return run(args)
