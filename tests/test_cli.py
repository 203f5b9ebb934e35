"""``megara-crmasks`` in-process: YAML form, --crmasks, compute/apply, demo, errors."""

from __future__ import annotations

import hashlib
import logging
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

import megara_crplugin.combination as combination
import megara_crplugin.pipeline as pipeline
from megara_crplugin.cli import main
from megara_crplugin.combination import METHODS, combine
from megara_crplugin.crmasks_file import read_crmasks
from megara_crplugin.inputs import read_frames
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames, write_frames

BIAS = 100.0
REQUIREMENTS = {
    "crmethod": "mmcosmic",
    "interactive": False,
    "mm_nsimulations": 3,
    "mm_seed": 1,
    "maxplots": 0,
}


@contextmanager
def _logging_preserved():
    """The command installs handlers on the root logger; leave it as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        logging.captureWarnings(False)


@pytest.fixture(autouse=True)
def _restore_logging():
    with _logging_preserved():
        yield


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Three 128 x 128 synthetic frames on disk, a parameter file and an input list."""
    base = tmp_path_factory.mktemp("cli_inputs")
    sset = make_megara_like_frames((128, 128), seed=21, n_double_hits=6, bias=BIAS)
    paths = write_frames(sset, base / "frames")
    params = {
        "images": [f"frames/{p.name}" for p in paths],
        "extnum": 0,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": BIAS,
        "requirements": dict(REQUIREMENTS),
    }
    yml = base / "params.yaml"
    yml.write_text(yaml.safe_dump(params, sort_keys=False))
    inputlist = base / "list.txt"
    inputlist.write_text("# the three exposures\n" + "\n".join(f"frames/{p.name}" for p in paths))
    return {"base": base, "sset": sset, "paths": paths, "yaml": yml, "list": inputlist}


def _digest(paths):
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]


def _write_yaml(inputs, tmp_path, **changes):
    data = yaml.safe_load(inputs["yaml"].read_text())
    data["images"] = [str(p) for p in inputs["paths"]]
    for key, value in changes.items():
        if key == "requirements":
            data["requirements"].update(value)
        else:
            data[key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def yaml_run(inputs, tmp_path_factory):
    """One YAML-form run without reports, shared by the checks of its outputs."""
    out = tmp_path_factory.mktemp("cli_out") / "result"
    before = _digest([*inputs["paths"], inputs["yaml"]])
    argv = [str(inputs["yaml"]), "--output_dir", str(out), "--no-reports"]
    with _logging_preserved():
        status = main(argv)
    return {"status": status, "out": out, "before": before, "argv": " ".join(argv)}


def test_yaml_form_writes_masks_and_seven_combinations(inputs, yaml_run):
    out = yaml_run["out"]
    assert yaml_run["status"] == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["crmasks.fits", *[f"combined_{m}.fits" for m in METHODS]])
    masks = read_crmasks(out / "crmasks.fits", n_frames=3, shape=(128, 128))
    history = str(fits.getheader(out / "crmasks.fits")["HISTORY"])
    assert "Image frame_1.fits" in history
    frames = read_frames(inputs["paths"])
    for method in METHODS:
        with fits.open(out / f"combined_{method}.fits") as h:
            assert [x.name for x in h] == ["PRIMARY", "VARIANCE", "MAP"]
            assert h[0].header["BITPIX"] == -32 and h["VARIANCE"].header["BITPIX"] == -32
            assert h["MAP"].header["BITPIX"] == 16
            assert h[0].header["CRMUUID"] == masks.uuid
            assert h[0].header["COMBMETH"] == method
            expected = combine(frames, method, masks=masks, bias=BIAS)
            np.testing.assert_array_equal(h[0].data, expected.data.astype(np.float32))
            np.testing.assert_array_equal(h["MAP"].data, expected.map)
    # the masks are those of the Python API with the same parameters
    api = compute_crmasks(
        frames,
        {
            **REQUIREMENTS,
            "gain": inputs["sset"].gain,
            "rnoise": inputs["sset"].rnoise,
            "bias": BIAS,
        },
    )
    for name, mask in api.masks.items():
        np.testing.assert_array_equal(masks.masks[name], mask, err_msg=name)
    assert masks.masks["MEDIANCR"].sum() > 0


def test_inputs_untouched_by_the_command(inputs, yaml_run):
    assert _digest([*inputs["paths"], inputs["yaml"]]) == yaml_run["before"]


def test_crmasks_option_skips_the_computation(inputs, yaml_run, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the masks were recomputed")

    monkeypatch.setattr(pipeline, "compute_crmasks", boom)
    given = yaml_run["out"] / "crmasks.fits"
    masks_uuid = fits.getval(given, "UUID")
    out = tmp_path / "again"
    status = main(
        [str(inputs["yaml"]), "--output_dir", str(out), "--crmasks", str(given), "--no-reports"]
    )
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"combined_{m}.fits" for m in METHODS)
    for method in ("mediancr", "meancr2"):
        assert fits.getval(out / f"combined_{method}.fits", "CRMUUID") == masks_uuid
        np.testing.assert_array_equal(
            fits.getdata(out / f"combined_{method}.fits"),
            fits.getdata(yaml_run["out"] / f"combined_{method}.fits"),
        )


def test_crmasks_option_checks_the_file(inputs, tmp_path, capsys):
    bogus = tmp_path / "bogus.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(bogus)
    out = tmp_path / "out"
    status = main([str(inputs["yaml"]), "--output_dir", str(out), "--crmasks", str(bogus)])
    assert status == 1
    assert "no UUID keyword in the primary header" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_unknown_top_level_key_suggests_the_right_one(inputs, tmp_path, capsys):
    data = yaml.safe_load(inputs["yaml"].read_text())
    data["imagse"] = data.pop("images")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main([str(bad), "--output_dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"parameter file {bad}: unknown top-level key 'imagse'; did you mean 'images'?" in err
    assert not (tmp_path / "out").exists()


def test_missing_image_is_named(inputs, tmp_path, capsys):
    missing = tmp_path / "frame_9.fits"
    path = _write_yaml(inputs, tmp_path, images=[str(p) for p in [*inputs["paths"][:2], missing]])
    assert main([str(path), "--output_dir", str(tmp_path / "out")]) == 1
    assert f"input image {missing}: file not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_parameter_writes_nothing(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier result")
    path = _write_yaml(inputs, tmp_path, requirements={"dilation": -1})
    assert main([str(path), "--output_dir", str(out)]) == 1
    assert "dilation" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_jobs_option_is_the_jobs_parameter(inputs, tmp_path, capsys, monkeypatch):
    """--jobs overrides the file's jobs and is validated like it (one line, nothing written)."""
    path = _write_yaml(inputs, tmp_path, requirements={"jobs": 2})
    out = tmp_path / "out"
    assert main([str(path), "--output_dir", str(out), "--jobs", "-1", "--no-reports"]) == 1
    assert "jobs" in capsys.readouterr().err and not out.exists()
    seen = []
    real = pipeline.compute_crmasks

    def spy(frames, params, **kw):
        seen.append(params.jobs)
        return real(frames, params, **kw)

    monkeypatch.setattr(pipeline, "compute_crmasks", spy)
    with _logging_preserved():
        status = main([str(path), "--output_dir", str(out), "--jobs", "1", "--no-reports"])
    assert status == 0 and seen == [1]


def test_failure_late_in_the_run_leaves_nothing_partial(inputs, tmp_path, capsys, monkeypatch):
    """An error after crmasks.fits, while combining: no file, no staging folder left."""
    real = combination.combine_stack

    def failing(stack, method, **kw):
        if method == "mediancr":
            raise ValueError("simulated failure while combining")
        return real(stack, method, **kw)

    monkeypatch.setattr(combination, "combine_stack", failing)
    out = tmp_path / "out"
    out.mkdir()
    (out / "crmasks.fits").write_text("previous masks")
    status = main([str(inputs["yaml"]), "--output_dir", str(out), "--no-reports"])
    assert status == 1
    assert "simulated failure while combining" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["crmasks.fits"]  # no staging folder either
    assert (out / "crmasks.fits").read_text() == "previous masks"


def test_reports_are_drawn_beside_the_combinations_and_their_failure_is_reported(
    inputs, tmp_path, capsys, monkeypatch
):
    """The reports run in a forked process while the combinations are written; an
    error there fails the run and leaves nothing, like any other."""
    import os

    import megara_crplugin.reports as reports_pkg

    real = reports_pkg.write_reports
    drawn_by = tmp_path / "drawn_by.txt"  # outside the output folder

    def failing(result, output_dir, **kw):
        drawn_by.write_text(str(os.getpid()))
        real(result, output_dir, **kw)  # the files appear in the staging folder first
        raise ValueError("simulated failure while drawing")

    monkeypatch.setattr(reports_pkg, "write_reports", failing)
    out = tmp_path / "out"
    status = main([str(inputs["yaml"]), "--output_dir", str(out)])
    assert status == 1
    assert "simulated failure while drawing" in capsys.readouterr().err
    assert int(drawn_by.read_text()) != os.getpid()  # not in this process
    assert not out.exists() or list(out.iterdir()) == []


def test_compute_and_apply_round_trip(inputs, tmp_path):
    masks_path = tmp_path / "masks" / "crmasks.fits"
    masks_path.parent.mkdir()
    common = ["--inputlist", str(inputs["list"]), "--bias", str(BIAS)]
    status = main(
        [
            "compute",
            *common,
            "--output_masks",
            str(masks_path),
            "--gain",
            "1.0",
            "--rnoise",
            "3.4",
            "--crmethod",
            "mmcosmic",
            "--nsimulations",
            "3",
            "--seed",
            "1",
        ]
    )
    assert status == 0
    assert [p.name for p in masks_path.parent.iterdir()] == ["crmasks.fits"]
    masks = read_crmasks(masks_path, n_frames=3, shape=(128, 128))
    assert masks.header["CRMETHOD"] == "mmcosmic"
    frames = read_frames(inputs["paths"])
    api = compute_crmasks(frames, {**REQUIREMENTS, "gain": 1.0, "rnoise": 3.4, "bias": BIAS})
    for name, mask in api.masks.items():
        np.testing.assert_array_equal(masks.masks[name], mask, err_msg=name)
    combined = tmp_path / "combined.fits"
    status = main(
        [
            "apply",
            *common,
            "--input_mask",
            str(masks_path),
            "--output_combined",
            str(combined),
            "--combination",
            "meancr2",
        ]
    )
    assert status == 0
    expected = combine(frames, "meancr2", masks=masks, bias=BIAS)
    with fits.open(combined) as h:
        np.testing.assert_array_equal(h[0].data, expected.data.astype(np.float32))
        np.testing.assert_array_equal(h["MAP"].data, expected.map)
        assert h[0].header["CRMUUID"] == masks.uuid


def test_apply_refuses_masks_of_another_shape(inputs, tmp_path, capsys):
    sset = make_megara_like_frames((64, 64), seed=1, n_double_hits=0)
    paths = write_frames(sset, tmp_path / "small")
    lst = tmp_path / "small.txt"
    lst.write_text("\n".join(str(p) for p in paths))
    masks = tmp_path / "m.fits"
    assert main(["compute", "--inputlist", str(inputs["list"]), "--output_masks", str(masks)]) == 0
    args = ["apply", "--inputlist", str(lst), "--input_mask", str(masks)]
    status = main([*args, "--output_combined", str(tmp_path / "c.fits")])
    assert status == 1
    assert "has shape (128, 128), the exposures (64, 64)" in capsys.readouterr().err
    assert not (tmp_path / "c.fits").exists()


def test_record_writes_terminal_output(inputs, tmp_path):
    out = tmp_path / "out"
    status = main([str(inputs["yaml"]), "--output_dir", str(out), "--no-reports", "--record"])
    assert status == 0
    text = (out / "terminal_output.txt").read_text()
    assert "combined_meancr2.fits written" in text
    assert "done" in text


@pytest.mark.slow
def test_demo_prints_the_truth_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo"
    assert main(["demo", "--size", "256", "--output_dir", str(out)]) == 0
    stdout = capsys.readouterr().out
    m = re.search(r"double-hit events \(median raised > 5 sigma\): (\d+)/(\d+) in MEDIANCR", stdout)
    assert m, stdout
    caught, total = int(m.group(1)), int(m.group(2))
    assert total > 10 and caught >= total - 1
    rates = dict(re.findall(r"^\s+(\w+)\s+([\d.]+)$", stdout, flags=re.M))
    assert set(rates) == {"mean", "median", "mediancr", "meancrt", "meancr", "meancr2"}
    assert float(rates["meancr2"]) <= 2.0 < float(rates["mean"])
    assert (out / "crmasks.fits").is_file() and (out / "frames" / "truth.fits").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # nothing outside it


def test_yaml_combinations_record_the_command_line(yaml_run):
    history = [str(h) for h in fits.getheader(yaml_run["out"] / "combined_mean.fits")["HISTORY"]]
    # astropy splits long HISTORY lines into cards of <= 72 characters, at a space when it
    # can (the space is lost): compare without whitespace
    text = "".join("".join(history).split())
    assert "".join(f"$ megara-crmasks {yaml_run['argv']}".split()) in text
    assert "- frame_2.fits" in history


def test_apply_records_its_own_command_line(inputs, yaml_run, tmp_path):
    out = tmp_path / "c.fits"
    argv = ["apply", "--inputlist", str(inputs["list"]), "--bias", str(BIAS)]
    argv += ["--input_mask", str(yaml_run["out"] / "crmasks.fits"), "--output_combined", str(out)]
    assert main(argv) == 0
    text = "".join("".join(str(h) for h in fits.getheader(out)["HISTORY"]).split())
    assert "".join(("$ megara-crmasks " + " ".join(argv)).split()) in text
