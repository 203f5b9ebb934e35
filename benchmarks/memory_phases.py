"""Peak memory of ``megara-crmasks PARAMS.yaml`` phase by phase (not a test).

Runs :func:`megara_crplugin.yaml_job.run_yaml` in this process on a parameter file
(for instance one written by ``bench_crmasks.py --keep``) and prints, for each
phase reported through the progress hook (``statistics``, ``simulations``,
``MEDIANCR``, ... ``plots``) and for the stretches between them (``after X``),
the writing of ``crmasks.fits`` and the combinations:

* the peak summed PSS of this process and its forked workers (GB), sampled
  every 0.05 s (short peaks can be missed);
* the exact peak RSS of this process (GB): ``VmHWM`` read at the end of the
  phase, then reset (``/proc/self/clear_refs``, Linux).

Usage::

    python benchmarks/bench_crmasks.py --size 4112x4096 --methods mmcosmic \\
        --skip-reference --no-phases --keep
    python benchmarks/memory_phases.py /tmp/bench_crmasks_XXXX/params_mmcosmic.yaml OUTDIR
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crmasks import _descendants, _kb  # noqa: E402


class PhaseMemory:
    """Progress hook and sampler: peak tree PSS and own peak RSS per phase (GB)."""

    def __init__(self, interval: float = 0.05):
        self.label = "start"
        self.order: list[str] = []
        self.pss: dict[str, float] = {}
        self.hwm: dict[str, float] = {}
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            pids = _descendants(os.getpid())
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) / 1e6
            label = self.label
            if label not in self.pss:
                self.order.append(label)
            self.pss[label] = max(self.pss.get(label, 0.0), pss)
            self._stop.wait(self.interval)

    def relabel(self, new: str) -> None:
        """Close the current stretch (record and reset VmHWM) and open ``new``."""
        old = self.label
        self.hwm[old] = max(self.hwm.get(old, 0.0), _kb("/proc/self/status", "VmHWM:") / 1e6)
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        self.label = new

    @contextmanager
    def phase(self, name: str, total: int | None = None):
        self.relabel(name)
        try:
            yield lambda n=1: None
        finally:
            self.relabel(f"after {name}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.relabel("end")
        self._stop.set()
        self._thread.join()


def _wrap(module, name: str, rec: PhaseMemory, label: str) -> None:
    func = getattr(module, name)

    def wrapped(*args, **kwargs):
        rec.relabel(label)
        try:
            return func(*args, **kwargs)
        finally:
            rec.relabel(f"after {label}")

    setattr(module, name, wrapped)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path, help="parameter YAML (absolute image paths)")
    parser.add_argument("output_dir", type=Path, help="output folder (replaced)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import megara_crplugin.crmasks_file as crmasks_file
    import megara_crplugin.yaml_job as yaml_job

    rec = PhaseMemory()
    _wrap(yaml_job, "write_combinations", rec, "combinations")
    _wrap(crmasks_file, "write_crmasks", rec, "write crmasks")
    shutil.rmtree(args.output_dir, ignore_errors=True)
    rec.start()
    t0 = time.perf_counter()
    yaml_job.run_yaml(args.params, output_dir=args.output_dir, progress=rec)
    wall = time.perf_counter() - t0
    rec.stop()
    print(f"run_yaml {args.params}: {wall:.1f} s wall")
    print(f"{'phase':45s} {'tree PSS GB':>11s} {'own peak RSS GB':>15s}")
    for label in rec.order:
        hwm = rec.hwm.get(label, float("nan"))
        print(f"{label:45s} {rec.pss[label]:11.3f} {hwm:15.3f}")
    print(f"{'maximum':45s} {max(rec.pss.values()):11.3f} {max(rec.hwm.values()):15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
