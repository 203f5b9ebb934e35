"""Issue 10: nothing the user owns is deleted or overwritten; refusals are one line.

Every case lists the folders and checksums the files before and after the
command, and checks the exit status and the single message line.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

import megara_crplugin.combination as combination
import megara_crplugin.pipeline as pipeline
from megara_crplugin import crmasks_file
from megara_crplugin.cli import main
from megara_crplugin.synthetic import make_megara_like_frames, write_frames

REQ = {"crmethod": "mmcosmic", "interactive": False, "mm_nsimulations": 1, "mm_seed": 3}
REQ["maxplots"] = 0


pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture(scope="module")
def sset():
    return make_megara_like_frames((48, 48), seed=5, n_double_hits=2, bias=100.0)


def _setup(base: Path, sset, names=None, subdir="frames") -> dict:
    """Frames, parameter file and input list under ``base``."""
    paths = write_frames(sset, base / subdir)
    if names:
        paths = [p.rename(p.with_name(n)) for p, n in zip(paths, names, strict=True)]
    rel = [str(p.relative_to(base)) for p in paths]
    params = {"images": rel, "extnum": 0, "gain": float(sset.gain), "rnoise": float(sset.rnoise)}
    params.update(bias=100.0, requirements=dict(REQ))
    yml = base / "params.yaml"
    yml.write_text(yaml.safe_dump(params, sort_keys=False))
    lst = base / "list.txt"
    lst.write_text("\n".join(rel) + "\n")
    return {"base": base, "paths": paths, "yaml": yml, "list": lst}


def _snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and 'dir' for folders) under ``root``."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _one_line_error(capsys, status, expected_status=1) -> str:
    err = capsys.readouterr().err.strip()
    assert status == expected_status
    assert err.count("\n") == 0, err
    assert "Traceback" not in err and ".megara-crmasks-" not in err
    return err


def _compute(s, out, *extra):
    return main(["compute", "--inputlist", str(s["list"]), "--output_masks", str(out), *extra])


def test_existing_directory_as_output_masks_is_refused(tmp_path, sset, capsys):
    s = _setup(tmp_path, sset)
    target = tmp_path / "frames"  # holds the input frames
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, _compute(s, target))
    assert f"--output_masks {target}: is an existing directory" in err
    assert _snapshot(tmp_path) == before


def test_directory_named_crmasks_fits_in_output_dir_is_refused(tmp_path, sset, capsys):
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    (out / "crmasks.fits").mkdir(parents=True)
    (out / "crmasks.fits" / "precious.txt").write_text("mine")
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out)]))
    assert "crmasks.fits is a directory where the tool writes a file" in err
    assert _snapshot(tmp_path) == before


def test_output_masks_equal_to_an_input_is_refused(tmp_path, sset, capsys):
    s = _setup(tmp_path, sset)
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, _compute(s, s["paths"][1]))
    assert "is the input file" in err and s["paths"][1].name in err
    assert _snapshot(tmp_path) == before


def test_output_combined_equal_to_an_input_is_refused(tmp_path, sset, capsys):
    s = _setup(tmp_path, sset)
    assert _compute(s, tmp_path / "m.fits") == 0
    capsys.readouterr()
    before = _snapshot(tmp_path)
    status = main(
        ["apply", "--inputlist", str(s["list"]), "--input_mask", str(tmp_path / "m.fits")]
        + ["--output_combined", str(s["paths"][0]), "--bias", "100"]
    )
    err = _one_line_error(capsys, status)
    assert "--output_combined" in err and "is the input file" in err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["combined_mean.fits", "crmasks.fits"])
def test_input_named_like_an_output_in_output_dir_is_refused(tmp_path, sset, capsys, name):
    s = _setup(tmp_path, sset, names=["a.fits", name, "c.fits"], subdir="out")
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(tmp_path / "out")]))
    assert f"the input file {name} lies there under a name the tool writes" in err
    assert _snapshot(tmp_path) == before


def test_output_dir_that_is_a_file_is_refused(tmp_path, sset, capsys):
    s = _setup(tmp_path, sset)
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(blocker)]))
    assert f"--output_dir {blocker}: is a file, expected a directory" in err
    assert _snapshot(tmp_path) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_output_dir_is_one_line(tmp_path, sset, capsys):
    s = _setup(tmp_path, sset)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        before = _snapshot(tmp_path)
        err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out)]))
        assert "not writable" in err
        assert _snapshot(tmp_path) == before
    finally:
        out.chmod(0o755)


def test_early_error_leaves_no_new_output_dir(tmp_path, sset, capsys):
    s = _setup(tmp_path, sset)
    data = yaml.safe_load(s["yaml"].read_text())
    data["requirements"]["mm_threshold"] = "high"
    s["yaml"].write_text(yaml.safe_dump(data))
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(tmp_path / "a/b")]))
    assert "mm_threshold" in err
    assert _snapshot(tmp_path) == before


def test_error_during_the_run_removes_the_new_output_dir(tmp_path, sset, capsys, monkeypatch):
    s = _setup(tmp_path, sset)

    def boom(*a, **k):
        raise ValueError("combination failed on purpose")

    monkeypatch.setattr(combination, "combine_stack", boom)
    before = _snapshot(tmp_path)
    status = main([str(s["yaml"]), "--output_dir", str(tmp_path / "new/out"), "--no-reports"])
    assert "failed on purpose" in _one_line_error(capsys, status)
    assert _snapshot(tmp_path) == before


def _stopper(exc_or_signal):
    def stop(*a, **k):
        if isinstance(exc_or_signal, int):
            os.kill(os.getpid(), exc_or_signal)
        raise exc_or_signal

    return stop


@pytest.mark.parametrize(
    ("how", "status", "word"),
    [(KeyboardInterrupt(), 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_interruption_cleans_the_staging_folder(
    tmp_path, sset, capsys, monkeypatch, how, status, word
):
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(pipeline, "compute_crmasks", _stopper(how))
    before = _snapshot(tmp_path)
    old = signal.getsignal(signal.SIGTERM)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out)]), status)
    assert word in err
    assert _snapshot(tmp_path) == before  # no staging folder left, nothing written
    assert signal.getsignal(signal.SIGTERM) is old


def test_failed_rerun_leaves_the_previous_set_untouched(tmp_path, sset, capsys, monkeypatch):
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    assert main([str(s["yaml"]), "--output_dir", str(out), "--no-reports"]) == 0
    before = _snapshot(tmp_path)
    real = combination.combine_stack

    def late_failure(stack, method, **k):
        if method == "meancr2":  # the last one, after the other six are written
            raise ValueError("last combination failed on purpose")
        return real(stack, method, **k)

    monkeypatch.setattr(combination, "combine_stack", late_failure)
    _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out), "--no-reports"]))
    assert _snapshot(tmp_path) == before


def test_rerun_removes_only_its_own_stale_outputs(tmp_path, sset):
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    out.mkdir()
    stale = ["diagnostic_crmask5.png", "mediancr_identified_mm.csv", "combined_old.fits"]
    for name in stale:
        (out / name).write_text("from an earlier run")
    mine = {"notes.txt": "mine", "crmasks_v1.fits": "mine", "diagnostic.txt": "mine"}
    for name, text in mine.items():
        (out / name).write_text(text)
    (out / "report.html.d").mkdir()
    assert main([str(s["yaml"]), "--output_dir", str(out), "--no-reports"]) == 0
    names = {p.name for p in out.iterdir()}
    assert not names & set(stale)
    assert {n: (out / n).read_text() for n in mine} == mine
    assert "report.html.d" in names and "crmasks.fits" in names
    assert not any(n.startswith(".megara-crmasks-") for n in names)


def test_disk_full_is_one_line_without_staging_path(tmp_path, sset, capsys, monkeypatch):
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"

    def full(hdul, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(crmasks_file, "write_hdulist", full)
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out), "--no-reports"]))
    assert f"output directory {out}: cannot write ({out / 'crmasks.fits'})" in err
    assert "No space left on device" in err
    assert _snapshot(tmp_path) == before


def test_a_failed_later_combination_write_leaves_nothing(tmp_path, sset, capsys, monkeypatch):
    """A write that fails after others succeeded (and the reports child) leaves nothing."""
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    write = crmasks_file.write_hdulist

    def full_at_min(hdul, path):
        if Path(path).name == "combined_min.fits":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return write(hdul, path)

    monkeypatch.setattr(crmasks_file, "write_hdulist", full_at_min)
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out), "--no-reports"]))
    assert "No space left on device" in err and "combined_min.fits" in err
    assert _snapshot(tmp_path) == before


def test_a_failure_while_the_mask_free_combinations_are_written_leaves_nothing(
    tmp_path, sset, capsys, monkeypatch
):
    """The child writing mean/median/min is stopped before the staging folder goes."""
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    write = crmasks_file.write_hdulist

    def slow(hdul, path):  # the forked child inherits it: still writing when MEDIANCR fails
        time.sleep(5.0)
        return write(hdul, path)

    def fail(*a, **k):
        raise ValueError("MEDIANCR failed on purpose")

    monkeypatch.setattr(crmasks_file, "write_hdulist", slow)
    monkeypatch.setattr(pipeline, "run_mediancr", fail)
    before = _snapshot(tmp_path)
    t0 = time.monotonic()
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out), "--no-reports"]))
    assert "failed on purpose" in err
    assert time.monotonic() - t0 < 4.5  # the child was stopped, not waited for
    time.sleep(max(0.0, t0 + 6.0 - time.monotonic()))  # a running child would have written
    assert _snapshot(tmp_path) == before


def test_non_ascii_file_and_folder_names(tmp_path, sset):
    base = tmp_path / "données"
    s = _setup(base, sset, names=["exposición_1.fits", "exposición_2.fits", "ñ.fits"])
    out = base / "résultats"
    assert main([str(s["yaml"]), "--output_dir", str(out), "--no-reports"]) == 0
    hist = str(fits.getheader(out / "crmasks.fits")["HISTORY"])
    assert "exposici\\xf3n_1.fits" in hist
    comb = fits.getheader(out / "combined_mediancr.fits")
    assert "\\xf1.fits" in str(comb["HISTORY"])
    assert _compute(s, out / "máscaras.fits") == 0


def test_compute_without_plots_keeps_report_like_files(tmp_path, sset):
    """compute writes only its masks file: report-like names in that folder stay."""
    s = _setup(tmp_path, sset)
    other = tmp_path / "diagnostic_crmask9.png"
    other.write_text("not written by this run")
    assert _compute(s, tmp_path / "m.fits") == 0
    assert other.read_text() == "not written by this run"
    assert np.asarray(fits.getdata(tmp_path / "m.fits", "MEDIANCR")).shape == (48, 48)


def test_messages_of_a_full_run_never_show_the_staging_folder(tmp_path, sset, capsys, caplog):
    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG):
        assert main([str(s["yaml"]), "--output_dir", str(out), "--log-level", "DEBUG"]) == 0
    text = caplog.text + "".join(capsys.readouterr())
    assert f"files written to {out}" in " ".join(text.split())
    assert ".megara-crmasks-" not in text
    assert (out / "report.html").is_file()


def test_permission_error_in_the_output_dir_is_one_line(tmp_path, sset, capsys, monkeypatch):
    """The OS refusal (as for a read-only folder, also when running as root) is one line."""
    from megara_crplugin import safety

    s = _setup(tmp_path, sset)
    out = tmp_path / "out"
    out.mkdir()

    def refuse(prefix, dir):  # noqa: A002 - tempfile's own keyword
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{dir}/{prefix}abc")

    monkeypatch.setattr(safety.tempfile, "mkdtemp", refuse)
    before = _snapshot(tmp_path)
    err = _one_line_error(capsys, main([str(s["yaml"]), "--output_dir", str(out)]))
    assert err == f"megara-crmasks: error: output directory {out}: cannot write: Permission denied"
    assert _snapshot(tmp_path) == before


def test_signal_during_the_final_move_is_deferred(tmp_path, monkeypatch, caplog):
    """Ctrl-C while the finished set is moved in: the move completes, the run is complete."""
    from megara_crplugin import safety

    real = safety._commit

    def commit_with_interrupt(*args):
        os.kill(os.getpid(), signal.SIGINT)  # handled (deferred) before the first rename
        real(*args)

    monkeypatch.setattr(safety, "_commit", commit_with_interrupt)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING), safety.staging(out) as stage:
        (stage / "crmasks.fits").write_text("new")
        (stage / "combined_mean.fits").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["combined_mean.fits", "crmasks.fits"]
    assert "the run is complete" in caplog.text


def test_staging_never_removes_inputs_or_folders(tmp_path):
    from megara_crplugin import safety

    out = tmp_path / "out"
    out.mkdir()
    (out / "combined_old.fits").write_text("input of this run")
    (out / "combined_dir.fits").mkdir()
    (out / "combined_stale.fits").write_text("earlier run")
    with safety.staging(
        out, stale=safety.COMBINED_PATTERNS, protected=[out / "combined_old.fits"]
    ) as st:
        (st / "combined_mean.fits").write_text("new")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["combined_dir.fits", "combined_mean.fits", "combined_old.fits"]
    with pytest.raises(RuntimeError), safety.staging(out) as st:
        (st / "crmasks.fits").write_text("partial")
        raise RuntimeError("stop")
    assert sorted(p.name for p in out.iterdir()) == names


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_real_signal_during_a_run_removes_the_staging_folder(tmp_path, sig, status):
    """A separate process, stopped by a real signal while it computes (forked workers too)."""
    import subprocess
    import sys
    import time

    big = make_megara_like_frames((256, 256), seed=6, n_double_hits=4)
    s = _setup(tmp_path, big)
    data = yaml.safe_load(s["yaml"].read_text())
    data["requirements"]["mm_nsimulations"] = 40
    s["yaml"].write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    before = _snapshot(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "megara_crplugin.cli", str(s["yaml"]), "--output_dir", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and any(out.glob(".megara-crmasks-*"))):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started its staging folder"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert err.strip().splitlines()[-1].startswith("megara-crmasks: ")
    assert "Traceback" not in err and ".megara-crmasks-" not in err
    assert _snapshot(tmp_path) == before  # no output dir, no staging folder left


def test_a_signal_whose_exception_was_swallowed_still_stops_before_the_move(tmp_path):
    """CPython can lose a handler's exception in a few C paths: the commit checks the flag."""
    from megara_crplugin import safety

    out = tmp_path / "out"
    out.mkdir()
    (out / "crmasks.fits").write_text("previous run")
    with pytest.raises(safety.Terminated), safety.staging(out) as stage:
        (stage / "crmasks.fits").write_text("new")
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except safety.Terminated:
            pass  # what a C path that clears the error does
    assert [p.name for p in out.iterdir()] == ["crmasks.fits"]
    assert (out / "crmasks.fits").read_text() == "previous run"


def test_apply_disk_full_leaves_no_new_folder(tmp_path, sset, capsys, monkeypatch):
    s = _setup(tmp_path, sset)
    assert _compute(s, tmp_path / "m.fits") == 0
    capsys.readouterr()

    def full(hdul, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(crmasks_file, "write_hdulist", full)
    before = _snapshot(tmp_path)
    out = tmp_path / "new" / "c.fits"
    status = main(
        ["apply", "--inputlist", str(s["list"]), "--input_mask", str(tmp_path / "m.fits")]
        + ["--output_combined", str(out), "--bias", "100"]
    )
    err = _one_line_error(capsys, status)
    assert err == (
        f"megara-crmasks: error: output directory {out.parent}: cannot write ({out}): "
        "No space left on device"
    )
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("forget", [True, False])
def test_python_m_exits_with_the_status_after_a_caught_interrupt_in_string_code(tmp_path, forget):
    """CPython under ``-m`` ends by SIGINT after a KeyboardInterrupt caught from ``exec``.

    The interrupt of a real run can land while a module is imported (dataclasses and
    namedtuples ``exec`` source text): caught by the command, the process still died by
    SIGINT (status -2 instead of 130) until ``forget_keyboard_interrupt``.
    """
    import subprocess
    import sys

    pkg = tmp_path / "kipkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    call = "forget_keyboard_interrupt()" if forget else "pass"
    (pkg / "run.py").write_text(
        "import sys\n"
        "from megara_crplugin.safety import forget_keyboard_interrupt\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt', {})\n"
        "except KeyboardInterrupt:\n"
        f"    {call}\n"
        "sys.exit(130)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.run([sys.executable, "-m", "kipkg.run"], env=env, capture_output=True)
    assert proc.returncode == (130 if forget else -signal.SIGINT), proc.stderr
