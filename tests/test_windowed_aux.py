"""Aux detectors on windows around stack candidates equal the full-frame call there (issue 11)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from megara_crplugin._threads import limit_openmp, workers_and_threads
from megara_crplugin.detectors import get_detector
from megara_crplugin.detectors._candidates import (
    detect_near,
    detector_margin,
    stack_candidates,
)
from megara_crplugin.detectors._windows import merge_peak_tail
from megara_crplugin.stacking import build_stack, stack_statistics
from megara_crplugin.synthetic import make_megara_like_frames

GAIN, RNOISE = 1.0, 3.4


def _stack(shape, seed, cr_fraction):
    sset = make_megara_like_frames(shape, seed=seed, cr_fraction=cr_fraction, n_double_hits=3)
    stack = build_stack(sset.frames, bias=0.0)
    return sset, stack, stack_statistics(stack)


@pytest.mark.parametrize(
    ("method", "shape", "seed"),
    [("pycosmic", (400, 520), 5), ("pycosmic", (300, 300), 11), ("lacosmic", (260, 300), 7)],
)
def test_windowed_features_equal_full_frame(method, shape, seed):
    # sparse hits so that the windows, not the full-frame fallback, are exercised
    _, stack, st = _stack(shape, seed, 1e-4)
    det = get_detector(method, {})
    med, mean, frames = stack_candidates(stack, st.median2d, st.min2d, gain=GAIN, rnoise=RNOISE)
    margin = detector_margin(det)
    checked = 0
    for image, cand in [(st.median2d, med), (st.mean2d, mean), *zip(stack, frames, strict=True)]:
        full = det.detect(image, gain=GAIN, rnoise=RNOISE)
        mask, cleaned = detect_near(det, image, cand, gain=GAIN, rnoise=RNOISE, margin=margin)
        expected = merge_peak_tail(cand, full.mask) & full.mask
        np.testing.assert_array_equal(mask, expected)
        np.testing.assert_array_equal(cleaned[mask], full.cleaned[mask])
        np.testing.assert_array_equal(cleaned[~mask], image[~mask])
        checked += int(expected.sum())
    assert checked > 0  # the comparison saw detections


def test_candidates_find_the_injected_hits():
    sset, stack, st = _stack((200, 240), 3, 5e-4)
    _, _, frames = stack_candidates(stack, st.median2d, st.min2d, gain=GAIN, rnoise=RNOISE)
    for i, cand in enumerate(frames):
        strong = sset.cr_flux[i] > 10 * RNOISE * 5
        assert strong.any()
        assert cand[strong].mean() > 0.95  # bright hits are candidates
        assert cand.mean() < 0.01  # and the candidates are sparse


def test_no_candidates_gives_empty_mask_and_input_image():
    det = get_detector("pycosmic", {})
    image = np.random.default_rng(0).normal(100.0, 3.0, (64, 64)).astype(np.float32)
    mask, cleaned = detect_near(
        det, image, np.zeros(image.shape, bool), gain=GAIN, rnoise=RNOISE, margin=10
    )
    assert not mask.any()
    np.testing.assert_array_equal(cleaned, image)


def test_call_rounds_fill_the_cores_to_the_last_call():
    from megara_crplugin._threads import call_rounds

    assert call_rounds(2, 5) == [(range(0, 4), 2, 1), (range(4, 5), 1, 2)]
    assert call_rounds(2, 4) == [(range(0, 4), 2, 1)]
    assert call_rounds(16, 5) == [(range(0, 5), 5, 3)]
    assert call_rounds(4, 7) == [(range(0, 4), 4, 1), (range(4, 7), 3, 1)]
    assert call_rounds(1, 3) == [(range(0, 3), 1, 1)]
    assert call_rounds(2, 0) == []


def test_native_threads_follow_the_openmp_setting(monkeypatch):
    from megara_crplugin._threads import native_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert native_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # nested levels: the outer one
    assert native_threads() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "0")
    assert native_threads() == 1
    for unset in ("", "many"):
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert native_threads() == (os.cpu_count() or 1)
    limit_openmp(2)
    assert native_threads() == 2


def test_workers_and_threads_never_oversubscribe():
    assert workers_and_threads(2, 5) == (2, 1)
    assert workers_and_threads(16, 5) == (5, 3)
    assert workers_and_threads(1, 5) == (1, 1)
    assert workers_and_threads(8, 1) == (1, 8)


def test_openmp_limit_does_not_change_lacosmic():
    pytest.importorskip("astroscrappy")
    _, stack, _ = _stack((128, 160), 2, 5e-4)
    det = get_detector("lacosmic", {})
    before = det.detect(stack[0], gain=GAIN, rnoise=RNOISE)
    assert limit_openmp(1) >= 1  # astroscrappy's OpenMP runtime is loaded and found
    after = det.detect(stack[0], gain=GAIN, rnoise=RNOISE)
    limit_openmp(os.cpu_count() or 1)  # back to one thread per core
    np.testing.assert_array_equal(before.mask, after.mask)
    np.testing.assert_array_equal(before.cleaned, after.cleaned)


@pytest.mark.parametrize(
    ("crmethod", "shape"),
    # 520 rows: several row blocks of the expected-signal tests, run in threads
    [("mm_pycosmic", (96, 128)), ("mmcosmic", (520, 64))],
)
def test_jobs_do_not_change_the_masks(crmethod, shape):
    from megara_crplugin.pipeline import compute_crmasks

    sset = make_megara_like_frames(shape, seed=4, n_double_hits=3)
    params = {"crmethod": crmethod, "gain": 1.0, "rnoise": 3.4, "bias": 0.0}
    params |= {"mm_seed": 5, "mm_nsimulations": 3, "interactive": False}
    one = compute_crmasks(list(sset.frames), {**params, "jobs": 1})
    two = compute_crmasks(list(sset.frames), {**params, "jobs": 2})
    assert list(one.targets) == list(two.targets)
    assert one.targets["MEDIANCR"].mask.any()
    for name, target in one.targets.items():
        np.testing.assert_array_equal(target.mask, two.targets[name].mask, err_msg=name)
    np.testing.assert_array_equal(one.histogram.counts, two.histogram.counts)


def test_limit_openmp_reaches_a_runtime_loaded_afterwards():
    """A detector worker limits its threads before astroscrappy is first imported."""
    import subprocess
    import sys

    code = (
        "import ctypes, sys\n"
        "from megara_crplugin._threads import _openmp_libraries, limit_openmp\n"
        "assert 'astroscrappy' not in sys.modules\n"
        "limit_openmp(1)\n"
        "import astroscrappy\n"
        "libs = _openmp_libraries()\n"
        "print(len(libs), *(ctypes.CDLL(p).omp_get_max_threads() for p in libs))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    n, *threads = out.stdout.split()
    if n == "0":
        pytest.skip("astroscrappy's OpenMP runtime is not visible in /proc/self/maps here")
    assert threads and all(t == "1" for t in threads)
