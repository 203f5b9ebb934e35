"""The fast PyCosmic building blocks give the plain scipy/numpy results bit for bit (issue 11).

Every optimisation of :mod:`megara_crplugin.detectors._pcfilters` and of the
iterations of :mod:`megara_crplugin.detectors.pycosmic` is meant to leave
every output bit unchanged.  Checked three ways: each block against the plain
call it replaces (random images, edges, tiny images); whole detector calls
against the same calls with the plain blocks patched in; and masks plus
cleaned images against digests frozen from the code before the optimisation
(commit f0875f9).
"""

from __future__ import annotations

import hashlib

import numpy as np
import plain_filters
import pytest
from scipy import ndimage

from megara_crplugin.detectors import _pcfilters as pf
from megara_crplugin.detectors import _pcsteps as ps
from megara_crplugin.detectors import pycosmic as pc
from megara_crplugin.detectors._windows import EIGHT, _tile_any, dilate8
from megara_crplugin.detectors.base import masked_median_replace
from megara_crplugin.detectors.pycosmic import PyCosmicDetector
from megara_crplugin.synthetic import make_megara_like_frames


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _random_images(seed, count):
    """float32 images of random shapes (3 px and up) and magnitudes, some with zeros."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        ny, nx = (int(n) for n in rng.integers(3, 70, 2))
        image = rng.normal(0.0, 1.0, (ny, nx)) * 10.0 ** rng.uniform(-3, 5)
        if k % 4 == 0:
            image[rng.random((ny, nx)) < 0.2] = 0.0
        yield rng, image.astype(np.float32)


class TestBlocks:
    def test_box_mean_is_uniform_filter(self):
        for rng, image in _random_images(1, 60):
            box = tuple(int(b) for b in rng.choice([1, 3, 5, 7], 2))
            expected = ndimage.uniform_filter(image, size=box, mode="mirror")
            assert _same_bits(pf.box_mean(image, box), expected), (image.shape, box)

    def test_box_mean_wider_than_a_column_block(self):
        image = np.random.default_rng(2).gamma(2.0, 50.0, (40, 3 * pf._COLUMNS + 5))
        image = image.astype(np.float32)
        expected = ndimage.uniform_filter(image, size=(5, 3), mode="mirror")
        assert _same_bits(pf.box_mean(image, (5, 3)), expected)

    @pytest.mark.parametrize("full_above", [0.0, 1e9])  # whole-image path, tile path
    def test_gaussian_at_is_gaussian_filter(self, monkeypatch, full_above):
        monkeypatch.setattr(pf, "_FULL_ABOVE", full_above)
        for rng, image in _random_images(3, 40):
            sigma = tuple(float(s) for s in rng.uniform(0.05, 3.0, 2))
            if rng.random() < 0.2:
                sigma = (0.0, sigma[1])  # scipy skips the axis
            expected = ndimage.gaussian_filter(image, sigma=sigma, mode="mirror", truncate=4.0)
            ys, xs = np.nonzero(rng.random(image.shape) < 0.3)
            got = pf.gaussian_at(image, ys, xs, sigma, 4.0)
            assert _same_bits(got, expected[ys, xs]), (image.shape, sigma)

    def test_gaussian_at_on_a_window_view(self):
        image = np.random.default_rng(4).normal(100, 10, (90, 120)).astype(np.float32)
        window = image[7:80, 11:100]
        assert not window.flags.c_contiguous
        expected = ndimage.gaussian_filter(window, sigma=(1.1, 1.6), mode="mirror", truncate=4.0)
        ys, xs = np.nonzero(np.ones(window.shape, dtype=bool))
        got = pf.gaussian_at(window, ys, xs, (1.1, 1.6), 4.0)
        assert _same_bits(got, expected.ravel())

    def test_gaussian_full_is_gaussian_filter(self):
        image = np.random.default_rng(5).normal(50, 5, (75, 2 * pf._COLUMNS + 9))
        image = image.astype(np.float32)
        expected = ndimage.gaussian_filter(image, sigma=(1.06, 1.7), mode="mirror", truncate=4.0)
        assert _same_bits(pf.gaussian_full(image, (1.06, 1.7), 4.0), expected)

    def test_laplace_plus_is_the_whole_image_construction(self, monkeypatch):
        monkeypatch.setattr(pf, "_BLOCK_PIXELS", 64)  # many row blocks, both edges
        for _, image in _random_images(6, 30):
            assert _same_bits(pf.laplace_plus(image), plain_filters.laplace_plus(image)), (
                image.shape
            )

    def test_update_laplace_equals_recomputation(self):
        rng = np.random.default_rng(7)
        image = rng.normal(100, 10, (60, 80)).astype(np.float32)
        lap = pf.laplace_plus(image)
        changed = rng.random(image.shape) < 0.01
        changed[0, 0] = changed[-1, -1] = changed[0, -1] = True  # corners
        image[changed] += 500.0
        updated = pf.update_laplace(lap, image, changed)
        assert _same_bits(updated, plain_filters.laplace_plus(image))

    def test_median5_at_is_median_filter(self):
        rng = np.random.default_rng(8)
        image = rng.normal(0, 1, (40, 33)).astype(np.float32)
        image[rng.random(image.shape) < 0.3] = 0.0  # ties
        expected = ndimage.median_filter(image, size=5, mode="mirror")
        ys, xs = np.nonzero(np.ones(image.shape, dtype=bool))
        assert _same_bits(pf.median5_at(image, ys, xs), expected.ravel())

    def test_masked_median_replace_at_a_subset(self):
        rng = np.random.default_rng(9)
        image = rng.normal(100, 10, (50, 60))
        mask = rng.random(image.shape) < 0.2
        at = mask & (rng.random(image.shape) < 0.5)
        whole = np.zeros(image.shape)
        whole[mask] = masked_median_replace(image, mask, box_x=5, box_y=3)
        part = masked_median_replace(image, mask, box_x=5, box_y=3, at=at)
        assert _same_bits(part, whole[at])


def _plain_significance(lap, noise, threshold, only=None):
    """``S = L+ / (2 N)`` on the whole image, N read at the kept pixels and neighbours."""
    sig = lap / (2.0 * noise)
    keep = sig > threshold
    if only is not None:
        keep &= only
    ys, xs = np.nonzero(keep)
    ny, nx = noise.shape
    rows = (ys, ys, ys, pf.reflect(ys - 1, ny), pf.reflect(ys + 1, ny))
    cols = (xs, pf.reflect(xs - 1, nx), pf.reflect(xs + 1, nx), xs, xs)
    near = np.stack([noise[y, x] for y, x in zip(rows, cols, strict=True)])
    return sig, (ys, xs, near)


def test_significance_by_row_blocks_is_the_whole_image(monkeypatch):
    """S written over N by blocks (here 1 or 2 rows): same S, same N at the kept pixels."""
    rng = np.random.default_rng(11)
    for block, shape in ((1, (9, 7)), (2, (11, 6)), (1, (1, 5)), (3, (7, 1)), (40, (8, 13))):
        monkeypatch.setattr(ps, "_BLOCK_PIXELS", block * shape[1])
        lap = rng.gamma(1.0, 3.0, shape).astype(np.float32)
        noise = rng.uniform(1.0, 5.0, shape).astype(np.float32)
        only = rng.random(shape) < 0.7
        expected_sig, expected = _plain_significance(lap, noise, 0.5, only)
        sig, kept = ps.significance(lap, noise.copy(), 0.5, only)
        assert _same_bits(sig, expected_sig), shape
        for got, want in zip(kept, expected, strict=True):
            assert np.array_equal(got, want), shape
        assert kept[0].size > 0


def _plain_blocks(monkeypatch):
    """Patch the plain scipy / whole-image forms of every fast block into pycosmic."""

    def gaussian_at(image, ys, xs, sigma, truncate):
        full = ndimage.gaussian_filter(image, sigma=sigma, mode="mirror", truncate=truncate)
        return full[ys, xs]

    def replace(original, select, cfg, previous=None, new=None):
        out = original.copy()
        out[select] = masked_median_replace(original, select, box_x=cfg.box[1], box_y=cfg.box[0])
        return out

    monkeypatch.setattr(
        ps, "box_mean", lambda image, box: ndimage.uniform_filter(image, box, mode="mirror")
    )
    monkeypatch.setattr(ps, "gaussian_at", gaussian_at)
    monkeypatch.setattr(ps, "laplace_plus", plain_filters.laplace_plus)
    monkeypatch.setattr(ps, "significance", _plain_significance)
    monkeypatch.setattr(
        pc, "update_laplace", lambda lap, image, changed: plain_filters.laplace_plus(image)
    )
    monkeypatch.setattr(pc, "_replace", replace)


@pytest.fixture(scope="module")
def frames():
    """A small seeded MEGARA-like set: one exposure and the float32 mean of three (ADU)."""
    sset = make_megara_like_frames((200, 330), n_frames=3, seed=5)
    stack = sset.frames - np.float32(sset.bias)
    return {"exposure": stack[0], "mean": stack.mean(axis=0, dtype=np.float32)}


#: (params, windowed second pass) of the frozen cases.
CASES = {
    "defaults": ({}, True),
    "one_pass_grown": ({"pc_sigma_det": 4.0, "pc_rlim": 1.0, "pc_increase_radius": 1}, True),
    "ifu_kernel_box": (
        {
            "pc_fwhm_gauss_x": 3.0,
            "pc_fwhm_gauss_y": 1.5,
            "pc_replace_box_x": 3,
            "pc_replace_box_y": 7,
        },
        True,
    ),
    "full_frame_run2": ({}, False),
}

#: (flagged pixels, first 32 hex digits of sha256(packbits(mask) + cleaned bytes)),
#: computed with commit f0875f9 (before the issue 11 optimisations), gain 1.3 e-/ADU.
FROZEN = {
    ("defaults", "exposure"): (172, "056c0c74400e8e32ddcc183aa7feea7b"),
    ("defaults", "mean"): (343, "95ad391bbc116dc3b7b52ff1433c5935"),
    ("one_pass_grown", "exposure"): (1100, "6fcbb95c9e345ef94142a3976312c0e6"),
    ("one_pass_grown", "mean"): (1651, "7ab7930dce2e0d788b3cf654ce07a5dc"),
    ("ifu_kernel_box", "exposure"): (165, "5af508349f2727ade3f25a70fcdc0ce7"),
    ("ifu_kernel_box", "mean"): (328, "e5b3264af7478138e139669acf52d665"),
    ("full_frame_run2", "exposure"): (172, "056c0c74400e8e32ddcc183aa7feea7b"),
    ("full_frame_run2", "mean"): (343, "95ad391bbc116dc3b7b52ff1433c5935"),
}


def _detect(frames, name, label):
    params, windowed = CASES[name]
    return PyCosmicDetector(params, windowed=windowed).detect(frames[label], gain=1.3, rnoise=3.4)


@pytest.mark.parametrize(("name", "label"), sorted(FROZEN))
def test_outputs_equal_frozen_digests(frames, name, label):
    det = _detect(frames, name, label)
    digest = hashlib.sha256(np.packbits(det.mask).tobytes() + det.cleaned.tobytes()).hexdigest()
    assert (int(det.mask.sum()), digest[:32]) == FROZEN[(name, label)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_equal_plain_blocks(frames, monkeypatch, name):
    fast = _detect(frames, name, "exposure")
    _plain_blocks(monkeypatch)
    plain = _detect(frames, name, "exposure")
    assert fast.mask.sum() > 50
    assert _same_bits(fast.mask, plain.mask)
    assert _same_bits(fast.cleaned, plain.cleaned)


def test_dilate8_and_tile_any_match_scipy_forms():
    rng = np.random.default_rng(10)
    for shape in ((1, 1), (3, 7), (33, 70), (64, 64)):
        mask = rng.random(shape) < 0.05
        for k in (1, 2, 3):
            expected = ndimage.binary_dilation(mask, structure=EIGHT, iterations=k)
            assert np.array_equal(dilate8(mask, k), expected)
        for tile in (1, 8, 16):
            ny, nx = shape
            padded = np.zeros((-(-ny // tile) * tile, -(-nx // tile) * tile), dtype=bool)
            padded[:ny, :nx] = mask
            expected = padded.reshape(padded.shape[0] // tile, tile, -1, tile).any(axis=(1, 3))
            assert np.array_equal(_tile_any(mask, tile), expected)


@pytest.mark.parametrize("windowed", [True, False])
def test_run2_shares_the_first_step_only_on_the_whole_frame(frames, monkeypatch, windowed):
    """Run 2's first step taken from run 1's noise and significance: same outputs."""
    used = []
    run = pc._run

    def spy(array, cfg, rdn2, first=None, also=None):
        used.append((array.shape, first is not None))
        return run(array, cfg, rdn2, first=first, also=also)

    monkeypatch.setattr(pc, "_run", spy)
    shared = PyCosmicDetector({}, windowed=windowed).detect(
        frames["exposure"], gain=1.3, rnoise=3.4
    )
    assert used[-1] == (frames["exposure"].shape, True)  # run 2 on the whole frame, shared
    used.clear()
    monkeypatch.setattr(pc._Config, "same_filters", lambda self, other: False)
    alone = PyCosmicDetector({}, windowed=windowed).detect(frames["exposure"], gain=1.3, rnoise=3.4)
    assert not any(first for _, first in used)
    assert _same_bits(shared.mask, alone.mask) and _same_bits(shared.cleaned, alone.cleaned)


def test_run2_windows_when_run1_finds_few(monkeypatch):
    """Few run-1 pixels: run 2 on windows, nothing shared (and no wasted work kept)."""
    sset = make_megara_like_frames(
        (256, 512), n_frames=1, seed=4, cr_fraction=0.00005, n_double_hits=0
    )
    used = []
    run = pc._run
    monkeypatch.setattr(
        pc,
        "_run",
        lambda array, cfg, rdn2, first=None, also=None: (
            used.append((array.shape, first is not None))
            or run(array, cfg, rdn2, first=first, also=also)
        ),
    )
    det = PyCosmicDetector({}).detect(sset.frames[0] - np.float32(sset.bias), gain=1.0, rnoise=3.4)
    assert det.mask.any()
    assert len(used) > 2 and not any(first for _, first in used)
    assert all(shape != (256, 512) for shape, _ in used[1:])
