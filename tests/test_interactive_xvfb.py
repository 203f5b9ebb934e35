"""Interactive windows for real: TkAgg under a virtual X display (Xvfb).

A child process runs ``compute_crmasks`` with ``interactive: true`` and the
default reviewer (real pyplot windows, ``plt.show(block=True)``).  This test
waits for each window, takes a screenshot of the X screen, checks that it
shows a figure (not a blank or black screen), and presses ``c`` with real X
key events (xdotool), which must close the window and let the run finish.

Skipped, with the reason, when Xvfb, xdotool, ImageMagick's ``import`` or
tkinter is missing (``apt-get install xvfb xdotool imagemagick python3-tk``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys
import matplotlib
matplotlib.use("TkAgg")
from megara_crplugin.interactive import InteractiveReviewer, display_available
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames

assert display_available(), "display_available() is False under Xvfb"
sset = make_megara_like_frames((128, 128), seed=11, n_double_hits=5)
params = dict(crmethod="mmcosmic", interactive=True, verify_cr=False, gain=float(sset.gain),
              rnoise=float(sset.rnoise), bias=float(sset.bias), mm_nsimulations=2, maxplots=0)
answers = iter([])
reviewer = InteractiveReviewer(ask=lambda prompt: next(answers), output_dir=sys.argv[1])
result = compute_crmasks(list(sset.frames), params, reviewer=reviewer)
print("MEDIANCR", int(result.targets["MEDIANCR"].mask.sum()), flush=True)
"""


def _missing_tools() -> str | None:
    for tool in ("Xvfb", "xdotool", "import"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install xvfb xdotool imagemagick)"
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return "tkinter is not available (apt-get install python3-tk)"
    return None


@pytest.fixture
def xdisplay():
    reason = _missing_tools()
    if reason:
        pytest.skip(f"no virtual display test: {reason}")
    display = ":87"
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    if server.poll() is not None:
        pytest.skip(f"Xvfb could not start on {display}")
    yield display
    server.terminate()
    server.wait(timeout=10)


def _windows(env) -> list[str]:
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", "Figure"],
        env=env,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def _screenshot(env, path: Path) -> np.ndarray:
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
    from matplotlib.image import imread

    return imread(path)


@pytest.mark.slow
def test_real_windows_under_xvfb(xdisplay, tmp_path):
    env = dict(os.environ, DISPLAY=xdisplay, MPLBACKEND="TkAgg", PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shots = []
    deadline = time.monotonic() + 120
    try:
        while child.poll() is None and time.monotonic() < deadline:
            wins = _windows(env)
            if not wins:
                time.sleep(0.5)
                continue
            time.sleep(1.5)  # let Tk draw the figure
            shot = tmp_path / f"screen_{len(shots) + 1}.png"
            shots.append(_screenshot(env, shot))
            subprocess.run(["xdotool", "windowactivate", "--sync", wins[0]], env=env, timeout=10)
            subprocess.run(["xdotool", "key", "--window", wins[0], "c"], env=env, timeout=10)
            t0 = time.monotonic()  # the key must close this window
            while wins[0] in _windows(env) and time.monotonic() - t0 < 20:
                time.sleep(0.3)
            assert wins[0] not in _windows(env), "key 'c' did not close the window"
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-3000:]
    assert "MEDIANCR" in out
    # the MM diagram and the MEDIANCR figure were shown, each a real drawing
    assert len(shots) >= 2, f"{len(shots)} window(s) seen"
    for img in shots:
        rgb = img[..., :3].reshape(-1, 3)
        assert rgb.std() > 0.05  # not a blank screen
        white = np.mean(np.all(rgb > 0.97, axis=1))
        assert 0.05 < white < 0.95  # a figure with a white background on the black root
        colours = np.unique((rgb * 255).astype(np.uint8), axis=0)
        assert len(colours) > 100  # colour maps, text and lines, not a flat window
    assert (tmp_path / "diagnostic_histogram2d.png").is_file()
