"""What keeps the memory of a run low (issue 11), checked by its semantics, not measured.

* The float64 sums and variances of the combinations, the expected-signal
  tests and the boundary evaluations are computed a block at a time: the
  blocks change no bit of the masks nor of the combined images (the
  regression references, recomputed with tiny blocks).
* The stack and its statistics are float32 (the ``dtype`` parameter) and the
  masks boolean.
* ``megara-crmasks PARAMS.yaml`` combines from the stack and statistics of the
  mask computation (the stack is not built a second time), writes each
  combination before the next is computed, and writes exactly the files that
  the frame-by-frame path (``--crmasks``) writes.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from megara_crplugin import _blockstats, boundary, combination, crmasks_file
from megara_crplugin._combowriter import MASK_FREE
from megara_crplugin.cli import run_yaml
from megara_crplugin.combination import METHODS, Combination, combine_stack, meancr_image
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames, write_frames

REGEN = Path(__file__).resolve().parent / "data" / "regression" / "regenerate.py"


def _regenerate():
    spec = importlib.util.spec_from_file_location("_regression_regenerate_mem", REGEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["mmcosmic_seed11", "mm_pycosmic_seed29"])
def test_row_blocks_change_no_bit_of_the_regression_references(monkeypatch, name):
    regenerate = _regenerate()
    calls = []
    sums = _blockstats._sums

    def counted(block, valid):
        calls.append(block.shape[1])
        return sums(block, valid)

    monkeypatch.setattr(_blockstats, "BLOCK_ROWS", 7)
    monkeypatch.setattr(_blockstats, "_sums", counted)
    monkeypatch.setattr(boundary, "_EVAL_BLOCK", 1000)  # boundaries evaluated in blocks too
    with np.load(REGEN.parent / f"{name}.npz") as stored:
        stored = dict(stored)
    current = regenerate.compute_case(name)
    assert regenerate.differences(name, stored, current) == []
    # the 128 rows were really cut into blocks of 7 (and a last one of 2)
    assert max(calls) == 7 and 2 in calls


def test_meancr_image_is_the_data_of_the_meancr_combination(small_result):
    stack = small_result.stats.stack
    crmasks = [small_result.masks[f"CRMASK{i}"] for i in (1, 2, 3)]
    assert any(m.any() for m in crmasks)
    both = crmasks[0] & crmasks[1] & crmasks[2]
    crmasks[0] = crmasks[0] | crmasks[1] | crmasks[2]  # some pixels masked everywhere
    crmasks[1] = crmasks[1] | crmasks[0]
    crmasks[2] = crmasks[2] | crmasks[0]
    assert crmasks[0].sum() > both.sum()
    masks = dataclasses.replace(
        small_result.crmasks, masks={f"CRMASK{i + 1}": m for i, m in enumerate(crmasks)}
    )
    full = combine_stack(stack, "meancr", masks=masks)
    image = meancr_image(stack, crmasks, small_result.stats.min2d)
    assert image.dtype == stack.dtype
    np.testing.assert_array_equal(image, full.data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stack_statistics_and_masks_dtypes(small_set, mm_params, dtype):
    result = compute_crmasks(list(small_set.frames), mm_params(small_set, dtype=dtype))
    stats = result.stats
    assert stats.stack.dtype == np.dtype(dtype)
    for name in ("min2d", "max2d", "median2d", "mean2d"):
        assert getattr(stats, name).dtype == np.dtype(dtype), name
    for name, target in result.targets.items():
        assert target.mask.dtype == bool, name
        assert target.code.dtype == np.uint8, name
    assert result.problematic.dtype == bool


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    """Three 100 x 96 frames (more rows than the 16-row blocks used below) and their YAML."""
    base = tmp_path_factory.mktemp("memory_inputs")
    sset = make_megara_like_frames((100, 96), seed=5, n_double_hits=6, bias=100.0)
    paths = write_frames(sset, base / "frames")
    doc = {
        "images": [str(p) for p in paths],
        "extnum": 0,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": 100.0,
        "requirements": {
            "crmethod": "mmcosmic",
            "interactive": False,
            "mm_nsimulations": 2,
            "mm_seed": 3,
            "maxplots": 0,
            "flux_factor": [1.0, 1.1, 0.95],
            "apply_flux_factor_to": "original",
        },
    }
    path = base / "params.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.filterwarnings("ignore:exposures not equivalent")
def test_run_combines_the_pipeline_stack_two_combinations_at_most(
    params_file, tmp_path, monkeypatch
):
    monkeypatch.setattr(_blockstats, "BLOCK_ROWS", 16)
    built = []
    build_stack = combination.build_stack

    def counted_build(*args, **kwargs):
        built.append(1)
        return build_stack(*args, **kwargs)

    live: dict[str, set[str]] = {}
    writes: list[str] = []  # the combinations written by this process, in order
    write = crmasks_file.write_hdulist

    def watching_write(hdul, path):
        if Path(path).name.startswith("combined_"):
            gc.collect()
            writes.append(hdul[0].header["COMBMETH"])
            live[writes[-1]] = {o.method for o in gc.get_objects() if type(o) is Combination}
        return write(hdul, path)

    monkeypatch.setattr(combination, "build_stack", counted_build)
    monkeypatch.setattr(crmasks_file, "write_hdulist", watching_write)
    run_yaml(params_file, output_dir=tmp_path / "run", reports=False)
    assert built == []  # the combinations used the mask computation's stack
    # the mask-free ones and mediancr are written by forked children during the detection
    masked = [m for m in METHODS if m not in (*MASK_FREE, "mediancr")]
    assert writes == masked
    for k, (method, methods) in enumerate(live.items()):
        # while one file is written, the next combination is computed; meancr's
        # own Combination is kept for meancr2
        following = set(masked[k + 1 : k + 2])
        assert methods <= {method, "meancr"} | following, (method, methods)

    run_yaml(
        params_file,
        output_dir=tmp_path / "again",
        reports=False,
        crmasks=tmp_path / "run" / "crmasks.fits",
    )
    assert built == [1]  # from the frames this time
    assert writes[len(masked) :] == list(METHODS)  # all seven here when applying masks
    for method in METHODS:
        name = f"combined_{method}.fits"
        with fits.open(tmp_path / "run" / name) as a, fits.open(tmp_path / "again" / name) as b:
            for ext in ("PRIMARY", "VARIANCE", "MAP"):
                np.testing.assert_array_equal(a[ext].data, b[ext].data, err_msg=f"{name} {ext}")


def test_release_frames_empties_the_list_and_changes_no_mask(small_set, small_result, mm_params):
    frames = list(small_set.frames)
    result = compute_crmasks(frames, mm_params(small_set), release_frames=True)
    assert frames == []  # the caller's list handed over: the stack replaced the frames
    assert list(result.masks) == list(small_result.masks)
    for name, mask in small_result.masks.items():
        np.testing.assert_array_equal(result.masks[name], mask, err_msg=name)
    kept = list(small_set.frames)
    compute_crmasks(kept, mm_params(small_set, mm_nsimulations=1))
    assert len(kept) == 3  # the default leaves the list as it is
