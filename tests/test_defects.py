"""Detector defects (issue 9, item 2): classification rules, BPM input, DEFECTS extension."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from megara_crplugin.config import ConfigError, validate_parameters
from megara_crplugin.crmasks_file import crmasks_hdulist, read_crmasks, write_crmasks
from megara_crplugin.defects import classify_defects, load_bpm
from megara_crplugin.exceptions import InputError
from megara_crplugin.pipeline import compute_crmasks

GAIN, RNOISE = 1.0, 3.0
SHAPE = (64, 64)


def _stack(seed=0, n=3, level=50.0):
    rng = np.random.default_rng(seed)
    signal = np.full(SHAPE, level)
    return np.stack([rng.poisson(signal) + rng.normal(0, RNOISE, SHAPE) for _ in range(n)]).astype(
        np.float32
    )


def _classify(stack, **kw):
    return classify_defects(stack, stack.min(axis=0), gain=GAIN, rnoise=RNOISE, **kw)


def test_hot_pixel_in_every_frame_is_a_defect_a_cosmic_ray_is_not():
    stack = _stack()
    stack[:, 10, 10] += 400.0  # hot: same excess in every exposure
    stack[0, 20, 20] += 400.0  # single hit
    stack[:2, 30, 30] += 400.0  # double hit (2 of 3 exposures)
    stack[:, 40, 40] += np.array([1278.0, 3417.0, 1950.0], dtype=np.float32)  # triple hit
    d = _classify(stack)
    assert d.mask[10, 10] and d.n_hot == 1
    assert not d.mask[20, 20] and not d.mask[30, 30] and not d.mask[40, 40]
    assert d.count == 1 and d.n_low == d.n_cold == d.n_bpm == 0


def test_sharp_source_present_in_every_frame_is_not_a_defect():
    # a bright star sampled with FWHM 2 pixels: its peak is well above its neighbours in
    # every exposure, but a neighbour keeps more than a third of the peak
    stack = _stack(level=20.0)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    sigma = 2.0 / 2.3548
    star = 5e4 * np.exp(-((yy - 32) ** 2 + (xx - 40) ** 2) / (2 * sigma**2))
    stack += star.astype(np.float32)
    assert _classify(stack).count == 0


def test_dead_pixel_and_negative_column():
    stack = _stack(level=200.0)
    stack[:, 5, 50] = 0.0  # dead in every exposure
    stack[:, :, 0] -= 150.0 * RNOISE  # strongly negative first column (the ISIS defect)
    d = _classify(stack)
    assert d.mask[5, 50] and d.n_cold >= 1
    # 200 e- - 450 ADU: the column's minimum is far under -10 rnoise
    assert d.mask[:, 0].all() and d.n_low == SHAPE[0]
    assert d.mask[:, 1:].sum() == 1  # and the dead pixel, nothing else


def test_rules_can_be_switched_off_and_bpm_marks_known_defects():
    stack = _stack()
    stack[:, 10, 10] += 400.0
    stack[:, :, 0] -= 300.0
    bpm = np.zeros(SHAPE, dtype=bool)
    bpm[40, 41] = True
    d = _classify(stack, low_rnoise=None, hot_sigma=None, bpm=bpm)
    assert d.count == 1 and d.mask[40, 41] and d.n_bpm == 1


def test_load_bpm_reads_fits_and_names_the_parameter_on_errors(tmp_path):
    data = np.zeros(SHAPE, dtype=np.uint8)
    data[3, 4] = 1
    path = tmp_path / "bpm.fits"
    fits.PrimaryHDU(data).writeto(path)
    assert np.array_equal(load_bpm(str(path), SHAPE), data == 1)
    assert load_bpm(None, SHAPE) is None
    with pytest.raises(InputError, match=r"^bpm: file .*missing\.fits not found"):
        load_bpm(str(tmp_path / "missing.fits"), SHAPE)
    with pytest.raises(InputError, match=r"^bpm: .* has shape \(64, 64\), the exposures \(8, 8\)"):
        load_bpm(str(path), (8, 8))


def test_bpm_parameter_in_the_schema():
    assert validate_parameters({}).bpm is None
    assert validate_parameters({"bpm": "master_bpm.fits"}).bpm == "master_bpm.fits"
    arr = np.zeros(SHAPE, dtype=np.uint8)
    arr[1, 2] = 1
    got = validate_parameters({"bpm": arr}, shape=SHAPE).bpm
    assert got.dtype == bool and got.sum() == 1
    with pytest.raises(ConfigError, match="bpm"):
        validate_parameters({"bpm": 3})
    with pytest.raises(ConfigError, match="bpm: expected a 2-D array of the exposures' shape"):
        validate_parameters({"bpm": arr}, shape=(8, 8))


def test_missing_bpm_file_fails_before_any_work(tmp_path):
    frames = list(_stack())
    params = {"interactive": False, "crmethod": "mmcosmic", "gain": GAIN, "rnoise": RNOISE}
    with pytest.raises(InputError, match=r"^bpm: file "):
        compute_crmasks(frames, {**params, "bpm": str(tmp_path / "nope.fits")}, output_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def defect_run(small_set, mm_params):
    """The small synthetic triplet with a hot pixel, a negative column and a BPM pixel."""
    frames = small_set.frames.copy()
    frames[:, 100, 120] += 500.0  # hot pixel (every exposure)
    frames[:, :, 0] -= 5000.0  # negative column (far under any signal of the scene)
    bpm = np.zeros(frames.shape[1:], dtype=np.uint8)
    bpm[50, 60] = 1
    params = mm_params(small_set, crmethod="mm_pycosmic", bpm=bpm)
    return compute_crmasks(list(frames), params)


def test_defects_are_never_in_a_cosmic_ray_mask(defect_run):
    d = defect_run.defects
    assert d.mask[100, 120] and d.mask[:, 0].all() and d.mask[50, 60]
    for name, mask in defect_run.masks.items():
        assert not (mask & d.mask).any(), name
    assert not defect_run.problematic[100, 120]


def test_defects_extension_round_trip_and_older_files(defect_run, tmp_path):
    path = write_crmasks(crmasks_hdulist(defect_run), tmp_path / "crmasks.fits")
    with fits.open(path) as hdul:
        assert hdul[-1].name == "DEFECTS" and hdul["DEFECTS"].data.dtype == np.uint8
        assert hdul["DEFECTS"].header["NPMASKED"] == defect_run.defects.count
        old = fits.HDUList([h.copy() for h in hdul if h.name != "DEFECTS"])
    back = read_crmasks(path)
    assert np.array_equal(back.defects, defect_run.defects.mask)
    old_path = tmp_path / "old.fits"
    old.writeto(old_path)
    older = read_crmasks(old_path)  # the layout before issue 9 keeps working
    assert older.defects is None
    assert np.array_equal(older.masks["MEDIANCR"], defect_run.masks["MEDIANCR"])


def test_aux_detections_of_every_exposure_same_value_defect_else_triple_hit():
    from megara_crplugin.defects import DefectMap, add_constant_detections

    stack = _stack(level=100.0)
    every = np.zeros(SHAPE, dtype=bool)
    stack[:, 10, 10] += 80.0  # a hot pixel on a background: the same excess every time
    every[10, 10] = True
    # a triple hit: unrelated amplitudes at its peak, similar ones in its wings
    stack[:, 30, 30] += np.array([600.0, 250.0, 900.0], dtype=np.float32)
    stack[:, 30, 31] += np.array([40.0, 38.0, 42.0], dtype=np.float32)
    every[30, 30:32] = True
    none = DefectMap(mask=np.zeros(SHAPE, dtype=bool))
    d = add_constant_detections(none, every, stack, gain=GAIN, rnoise=RNOISE)
    assert d.mask[10, 10] and d.n_aux == 1 and d.count == 1


def test_recipe_passes_megaradrp_master_bpm_as_known_defects():
    pytest.importorskip("megaradrp")
    import logging

    from megara_crplugin.numina.recipes import RecipeInputError, _with_master_bpm

    data = np.zeros(SHAPE, dtype=np.uint8)
    data[7, 9] = 1

    class _Frame:  # numina DataFrame: open() gives the HDUList
        def __init__(self, arr):
            self.arr = arr

        def open(self):
            return fits.HDUList([fits.PrimaryHDU(self.arr)])

    class _Input:
        master_bpm = _Frame(data)

    class _Recipe:
        logger = logging.getLogger("test")

    cfg = validate_parameters({"interactive": False}, n_images=3, shape=SHAPE)
    got = _with_master_bpm(_Recipe(), _Input(), cfg)
    assert got.bpm.dtype == bool and got.bpm.sum() == 1 and got.bpm[7, 9]
    _Input.master_bpm = None
    assert _with_master_bpm(_Recipe(), _Input(), cfg).bpm is None
    _Input.master_bpm = _Frame(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(RecipeInputError, match="master_bpm: .*bpm: expected a 2-D array"):
        _with_master_bpm(_Recipe(), _Input(), cfg)


@pytest.mark.parametrize("hot", [True, False])
def test_every_frame_sparse_check_equals_filtering_every_frame(hot):
    from scipy import ndimage

    from megara_crplugin import defects as d

    rng = np.random.default_rng(5)
    stack = rng.normal(200, 5, (3, 50, 60)).astype(np.float32)
    ys, xs = rng.integers(0, 50, 40), rng.integers(0, 60, 40)
    ys[:4], xs[:4] = [0, 49, 0, 49], [0, 59, 30, 0]  # corners and edges
    sign = 1 if hot else -1
    stack[:, ys, xs] += sign * rng.uniform(*((700, 3000) if hot else (150, 195)), (3, 40)).astype(
        np.float32
    )
    stack[1, ys[::3], xs[::3]] = 200  # not defective in one frame
    gain = np.full((50, 60), 1.5)
    gain[:, :20] = 0.7
    for k in (3.0, 5.0):
        want = None
        for frame in stack:
            filt = ndimage.maximum_filter if hot else ndimage.minimum_filter
            nb = filt(frame, footprint=d._RING, mode="nearest")
            flag = d._defect_flags(frame, nb, gain, 3.0, k, hot)
            want = flag if want is None else want & flag
        got = d._every_frame(stack, gain, 3.0, k, hot=hot)
        assert np.array_equal(got, want)
        assert 5 < got.sum() < 40


@pytest.mark.parametrize("hot", [True, False])
def test_every_frame_equals_the_full_frame_rule(hot):
    """The sparse evaluation (sharpness first) gives the pixels of the rule on whole frames."""
    from scipy import ndimage

    from megara_crplugin.defects import _RING, SHARPNESS, _every_frame

    rng = np.random.default_rng(5)
    stack = rng.normal(100.0, 10.0, (3, 300, 300)).astype(np.float32)
    stack[:, 100, 100] += 500.0
    stack[:, 200, 30] -= 300.0
    stack[:, 5, 0] = -50.0
    stack[0, 50, 50] += 1000.0  # one frame only: not a defect
    gain, rnoise, k = np.full((300, 300), 1.2), np.full((300, 300), 3.1), 5.0
    want = np.ones((300, 300), dtype=bool)
    filt = ndimage.maximum_filter if hot else ndimage.minimum_filter
    for frame in stack:
        nb = filt(frame, footprint=_RING, mode="nearest")
        sigma = np.sqrt(np.maximum(nb, 0) / gain + rnoise**2)
        if hot:
            want &= (frame - nb > k * sigma) & (frame > SHARPNESS * np.maximum(nb, 0))
        else:
            want &= (nb - frame > k * sigma) & (SHARPNESS * frame < nb)
    got = _every_frame(stack, gain, rnoise, k, hot=hot)
    assert want.sum() >= 1 and np.array_equal(got, want)
