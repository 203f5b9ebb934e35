"""Aux.Cosmic calls in forked worker processes (issue 11): same result, no hang."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin import pipeline
from megara_crplugin.synthetic import make_megara_like_frames


def test_forked_lacosmic_workers_of_a_parent_with_an_openmp_pool_do_not_hang():
    """GNU libgomp's thread pool does not survive a fork: a worker with more than one
    OpenMP thread would wait forever for the parent's pool threads.  A second run in
    one process (batch, numina) has such a pool (the first run's MEANCR call)."""
    import subprocess
    import sys

    pytest.importorskip("astroscrappy")
    code = (
        "import numpy as np, astroscrappy\n"
        "from megara_crplugin._threads import limit_openmp\n"
        "from megara_crplugin.pipeline import compute_crmasks\n"
        "from megara_crplugin.synthetic import make_megara_like_frames\n"
        "limit_openmp(2)\n"
        "astroscrappy.detect_cosmics(np.full((64, 64), 100.0, dtype=np.float32))\n"
        "s = make_megara_like_frames((96, 128), seed=2, n_double_hits=3)\n"
        "p = dict(crmethod='mm_lacosmic', jobs=2, interactive=False, gain=s.gain,\n"
        "         rnoise=s.rnoise, bias=s.bias, mm_nsimulations=2)\n"
        "print(int(compute_crmasks(list(s.frames), p).masks['MEDIANCR'].sum()))\n"
    )
    import os
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its hung workers are killed with it
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the forked detector workers hung (OpenMP pool inherited through fork)")
    assert proc.returncode == 0, stderr[-2000:]
    assert int(stdout.split()[-1]) > 0


@pytest.mark.parametrize("crmethod", ["mm_pycosmic", "mm_lacosmic"])
def test_detector_calls_in_worker_processes_give_the_serial_result(monkeypatch, crmethod):
    """Forked workers, in rounds (the last call with every core's OpenMP threads)."""
    import megara_crplugin._auxpass as auxpass

    sset = make_megara_like_frames((128, 160), seed=21, n_double_hits=5)
    params = {
        "crmethod": crmethod,
        "jobs": 2,
        "interactive": False,
        "gain": sset.gain,
        "rnoise": sset.rnoise,
        "bias": sset.bias,
        "mm_nsimulations": 2,
    }
    forked = pipeline.compute_crmasks(list(sset.frames), params)
    monkeypatch.setattr(auxpass, "_FORK_SAFE_DETECTORS", ())
    serial = pipeline.compute_crmasks(list(sset.frames), params)
    assert forked.masks.keys() == serial.masks.keys()
    for name, mask in forked.masks.items():
        np.testing.assert_array_equal(mask, serial.masks[name], err_msg=name)
    np.testing.assert_array_equal(forked.auxclean, serial.auxclean)
    assert forked.targets["MEDIANCR"].flag_aux.any() or forked.targets["MEANCRT"].flag_aux.any()
