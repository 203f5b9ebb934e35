"""Detector registry, shared helpers and L.A.Cosmic adapter on synthetic data."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from scipy import ndimage

import megara_crplugin.detectors as registry
from megara_crplugin.detectors import (
    MissingOptionalDependency,
    _windows,
    available_detectors,
    get_detector,
    merge_peak_tail,
)
from megara_crplugin.detectors import lacosmic as lacosmic_module
from megara_crplugin.detectors.base import (
    as_pair,
    masked_median_replace,
    second_pass_windowed,
)
from megara_crplugin.detectors.lacosmic import (
    LACosmicDetector,
    gaussxy_kernel,
    lacosmic_radius,
)
from megara_crplugin.detectors.pycosmic import PyCosmicDetector

EIGHT = np.ones((3, 3), dtype=bool)


def _flat_with_crs(shape=(160, 200), *, seed=3, sky=80.0, rnoise=3.0, n_cr=12):
    """Flat Poisson sky (e-) with a few bright cosmic rays of 1-4 pixels; returns (image, truth)."""
    rng = np.random.default_rng(seed)
    image = rng.poisson(sky, size=shape).astype(np.float32)
    image += rng.normal(0.0, rnoise, size=shape).astype(np.float32)
    truth = np.zeros(shape, dtype=bool)
    for _ in range(n_cr):
        y, x = rng.integers(12, shape[0] - 12), rng.integers(12, shape[1] - 12)
        for k in range(int(rng.integers(1, 5))):
            image[y, x + k] += rng.uniform(400.0, 3000.0)
            truth[y, x + k] = True
    return image, truth


# --------------------------------------------------------------------------- merge


def _merge_reference(peaks, tails):
    """Brute force: one feature at a time (the O(features x pixels) definition)."""
    labels, n = ndimage.label(tails, structure=EIGHT)
    out = peaks.copy()
    for k in range(1, n + 1):
        feature = labels == k
        if (feature & peaks).any():
            out |= feature
    return out


class TestMergePeakTail:
    def test_keeps_tail_features_touching_peaks_only(self):
        peaks = np.zeros((8, 8), dtype=bool)
        tails = np.zeros((8, 8), dtype=bool)
        peaks[2, 2] = True
        tails[1:4, 1:4] = True  # contains the peak -> kept whole
        tails[6, 5:8] = True  # no peak -> dropped
        merged = merge_peak_tail(peaks, tails)
        assert merged[1:4, 1:4].all()
        assert not merged[6].any()
        assert merged.sum() == 9

    def test_run1_pixels_never_dropped(self):
        """Defect 21: a run-1 pixel outside every run-2 feature stays flagged."""
        peaks = np.zeros((5, 5), dtype=bool)
        peaks[0, 0] = peaks[4, 4] = True
        tails = np.zeros((5, 5), dtype=bool)
        tails[4, 3:5] = True
        merged = merge_peak_tail(peaks, tails)
        assert merged[0, 0] and merged[4, 3] and merged[4, 4]
        assert merged.sum() == 3

    def test_diagonal_neighbours_are_connected(self):
        peaks = np.zeros((4, 4), dtype=bool)
        tails = np.zeros((4, 4), dtype=bool)
        peaks[0, 0] = True
        tails[0, 0] = tails[1, 1] = tails[2, 2] = True
        assert merge_peak_tail(peaks, tails)[2, 2]

    def test_equals_brute_force_on_random_masks(self):
        rng = np.random.default_rng(7)
        for _ in range(5):
            tails = rng.random((60, 70)) < 0.25
            peaks = (rng.random((60, 70)) < 0.02) | (tails & (rng.random((60, 70)) < 0.05))
            np.testing.assert_array_equal(
                merge_peak_tail(peaks, tails), _merge_reference(peaks, tails)
            )

    def test_inputs_not_modified_and_shape_checked(self):
        peaks = np.eye(4, dtype=bool)
        tails = np.ones((4, 4), dtype=bool)
        merged = merge_peak_tail(peaks, tails)
        assert merged.all() and peaks.sum() == 4
        with pytest.raises(ValueError, match=r"same shape, got \(4, 4\) and \(3, 4\)"):
            merge_peak_tail(peaks, np.ones((3, 4), dtype=bool))


# --------------------------------------------------------------------------- helpers


class TestHelpers:
    def test_as_pair(self):
        assert as_pair("la_sigclip", 4) == (4.0, 4.0)
        assert as_pair("la_sigclip", [5, 3]) == (5.0, 3.0)
        with pytest.raises(ValueError, match=r"la_sigfrac must be a number or a list of two"):
            as_pair("la_sigfrac", [1, 2, 3])
        with pytest.raises(ValueError, match="pc_rlim must be finite"):
            as_pair("pc_rlim", [1.0, np.nan])

    def test_masked_median_replace_matches_loop(self):
        rng = np.random.default_rng(1)
        image = rng.normal(100, 10, (30, 40))
        mask = rng.random((30, 40)) < 0.15
        values = masked_median_replace(image, mask, box_x=5, box_y=3)
        for v, (y, x) in zip(values, zip(*np.nonzero(mask), strict=True), strict=True):
            box = (slice(max(y - 1, 0), y + 2), slice(max(x - 2, 0), x + 3))
            assert v == pytest.approx(np.median(image[box][~mask[box]]))

    def test_masked_median_replace_fully_flagged_box(self):
        image = np.full((20, 20), 10.0)
        image[8:13, 8:13] = 1000.0
        mask = np.zeros((20, 20), dtype=bool)
        mask[8:13, 8:13] = True
        values = masked_median_replace(image, mask)  # centre: 5x5 all flagged -> 15x15
        assert np.all(values == 10.0)
        everything = np.ones((20, 20), dtype=bool)
        ramp = np.arange(400.0).reshape(20, 20)
        low = masked_median_replace(ramp, everything)  # nothing unflagged: local minimum
        assert low[0] == 0.0 and low[-1] == ramp[12, 12]

    def test_gaussxy_kernel(self):
        k = gaussxy_kernel(4.0, 2.0, 11)
        assert k.dtype == np.float32 and k.shape == (11, 11)
        assert k.sum() == pytest.approx(1.0, rel=1e-6)
        assert k[5, 7] == pytest.approx(0.5 * k[5, 5], rel=1e-5)  # half maximum at x = FWHM/2
        assert k[6, 5] == pytest.approx(0.5 * k[5, 5], rel=1e-5)
        with pytest.raises(ValueError, match="la_psfsize must be an odd integer >= 3, got 10"):
            gaussxy_kernel(2.5, 2.5, 10)

    def test_windowed_second_pass_on_a_local_operator(self):
        """A local 'detector' (threshold + 3x3 growth) gives the same merge on windows."""
        rng = np.random.default_rng(2)
        image = rng.normal(0, 1, (300, 260))

        def run(sub):
            grown = ndimage.binary_dilation(sub > 2.5, structure=EIGHT)
            return grown, sub * 0

        peaks = image > 3.6
        merged, tails, _ = second_pass_windowed(run, (image,), peaks, margin=2, tile=8)
        full, _ = run(image)
        np.testing.assert_array_equal(merged, merge_peak_tail(peaks, full))


# --------------------------------------------------------------------------- registry


class TestRegistry:
    def test_builtins_available(self):
        found = available_detectors()
        assert set(found) >= {"lacosmic", "pycosmic", "deepcr", "conn"}
        assert found["lacosmic"] is LACosmicDetector

    def test_get_detector_accepts_crmethod_names(self):
        assert isinstance(get_detector("mm_lacosmic", {}), LACosmicDetector)
        assert isinstance(get_detector("PyCosmic", {"pc_iterations": 2}), PyCosmicDetector)

    def test_unknown_name_lists_available(self):
        with pytest.raises(
            ValueError, match=r"unknown Aux.Cosmic detector 'lacosmik'; available: conn, deepcr"
        ):
            get_detector("lacosmik", {})

    def test_missing_package_names_crmethod_and_extra(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "deepCR", None)  # import deepCR -> ImportError
        with pytest.raises(
            MissingOptionalDependency,
            match=r"crmethod 'mm_deepcr' needs the optional package deepCR: "
            r"pip install 'megara-crplugin\[deepcr\]'",
        ):
            get_detector("mm_deepcr", {})

    def test_fallback_without_metadata(self, monkeypatch):
        monkeypatch.setattr(registry, "_entry_points", lambda search_path: ())
        assert set(available_detectors()) == {"lacosmic", "pycosmic", "deepcr", "conn"}

    def test_third_party_entry_point_and_reserved_names(self, monkeypatch, caplog):
        group = registry.ENTRY_POINT_GROUP
        eps = [
            EntryPoint("mine", "megara_crplugin.detectors.pycosmic:PyCosmicDetector", group),
            EntryPoint("lacosmic", "megara_crplugin.detectors.pycosmic:PyCosmicDetector", group),
        ]
        monkeypatch.setattr(registry, "_entry_points", lambda search_path: tuple(eps))
        found = available_detectors()
        assert found["mine"] is PyCosmicDetector
        assert found["lacosmic"] is LACosmicDetector
        assert "name is reserved" in caplog.text

    def test_no_torch_import_for_classical_detectors(self):
        code = (
            "import sys, numpy as np\n"
            "from megara_crplugin.detectors import available_detectors, get_detector\n"
            "available_detectors()\n"
            "get_detector('lacosmic', {}).detect(np.ones((9, 9)), gain=1.0, rnoise=1.0)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --------------------------------------------------------------------------- validation


@pytest.fixture(scope="module")
def det():
    return LACosmicDetector({})


class TestValidation:
    def test_image_must_be_2d(self, det):
        with pytest.raises(ValueError, match=r"image must be a 2-D array \(ny, nx\), got 3"):
            det.detect(np.zeros((2, 5, 5)), gain=1.0, rnoise=1.0)

    def test_non_finite_image(self, det):
        image = np.ones((9, 9))
        image[3, 3] = np.nan
        with pytest.raises(ValueError, match=r"image contains 1 non-finite value\(s\)"):
            det.detect(image, gain=1.0, rnoise=1.0)

    @pytest.mark.parametrize(
        ("gain", "rnoise", "message"),
        [
            (0.0, 1.0, r"gain must be finite and > 0 \(e-/ADU\), got 0.0"),
            (1.0, -1.0, r"rnoise must be finite and >= 0 \(ADU\), got -1.0"),
            (np.ones((9, 9)), 1.0, r"gain must be a scalar \(e-/ADU\)"),
        ],
    )
    def test_gain_and_rnoise(self, det, gain, rnoise, message):
        with pytest.raises(ValueError, match=message):
            det.detect(np.ones((9, 9)), gain=gain, rnoise=rnoise)

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"la_sigclp": 4}, r"unknown lacosmic parameter\(s\) la_sigclp; valid:"),
            ({"la_cleantype": "mean"}, r"la_cleantype must be one of median, medmask"),
            ({"la_psfsize": 4}, r"la_psfsize must be an odd integer >= 3, got 4"),
            ({"la_padwidth": -1}, r"la_padwidth must be >= 0 pixels, got -1"),
            ({"la_objlim": [1, 2, 3]}, r"la_objlim must be a number or a list of two"),
        ],
    )
    def test_lacosmic_parameters(self, params, message):
        with pytest.raises(ValueError, match=message):
            LACosmicDetector(params)

    def test_background_shape(self, det):
        with pytest.raises(ValueError, match=r"background must have the image shape \(9, 9\)"):
            det.detect(np.ones((9, 9)), gain=1.0, rnoise=1.0, background=np.ones((8, 9)))


# --------------------------------------------------------------------------- L.A.Cosmic


class TestLACosmic:
    def test_finds_bright_crs_input_untouched(self):
        image, truth = _flat_with_crs()
        before = image.copy()
        det = LACosmicDetector({"la_fsmode": "median"}).detect(image, gain=1.0, rnoise=3.0)
        np.testing.assert_array_equal(image, before)
        assert det.mask.dtype == bool and det.mask.shape == image.shape
        assert (det.mask & truth).sum() == truth.sum()
        assert (det.mask & ~ndimage.binary_dilation(truth, EIGHT)).sum() <= 10  # of 32 000
        np.testing.assert_array_equal(det.cleaned[~det.mask], image[~det.mask])
        assert np.all(det.cleaned[truth] < 150.0)

    @pytest.mark.parametrize("pad", [0, 10])
    def test_windowed_second_pass_equals_full_frame(self, pad, monkeypatch):
        """Run 2 on windows (margin = astroscrappy dependency radius) = run 2 on the frame.

        Sparse CRs: interior windows share a mosaic call, edge windows run alone.
        """
        rng = np.random.default_rng(11)
        image = rng.poisson(80.0, size=(400, 400)).astype(np.float32)
        image += rng.normal(0, 3, image.shape).astype(np.float32)
        for y, x in [(100, 100), (100, 280), (280, 180), (200, 300), (10, 200), (385, 15)]:
            image[y, x : x + 3] += rng.uniform(400, 3000, 3).astype(np.float32)
        packed = []
        pack = _windows._shelf_pack
        monkeypatch.setattr(
            _windows, "_shelf_pack", lambda sizes: packed.append(sizes) or pack(sizes)
        )
        params = {"la_padwidth": pad, "la_fsmode": "median", "la_niter": 2}
        windowed = LACosmicDetector(params).detect(image, gain=1.0, rnoise=3.0)
        full = LACosmicDetector(params, windowed=False).detect(image, gain=1.0, rnoise=3.0)
        assert packed and len(packed[0]) >= 2  # a mosaic of several windows was used
        assert windowed.mask.sum() >= 18
        np.testing.assert_array_equal(windowed.mask, full.mask)
        np.testing.assert_array_equal(windowed.cleaned, full.cleaned)

    def test_single_pass_when_parameters_equal(self, monkeypatch):
        params = {"la_sigclip": 5.0, "la_sigfrac": 0.3, "la_objlim": 5.0}
        det = LACosmicDetector(params, windowed=False)
        calls = []
        run = det._run
        monkeypatch.setattr(det, "_run", lambda *a: calls.append(a[2]) or run(*a))
        det.detect(_flat_with_crs()[0], gain=1.0, rnoise=3.0)
        assert calls == [0]
        # the shared-step engine is asked for one set of thresholds only
        runs = []
        engine = lacosmic_module.lacosmic_runs
        monkeypatch.setattr(
            lacosmic_module,
            "lacosmic_runs",
            lambda i, s, r, **k: runs.append(r) or engine(i, s, r, **k),
        )
        LACosmicDetector(params).detect(_flat_with_crs()[0], gain=1.0, rnoise=3.0)
        assert runs == [[(5.0, 0.3, 5.0)]]

    def test_two_pass_mask_contains_run1(self):
        image, _ = _flat_with_crs(seed=5)
        one = LACosmicDetector({"la_sigclip": 5.0}).detect(image, gain=1.0, rnoise=3.0).mask
        two = LACosmicDetector({"la_sigclip": [5.0, 3.0]}).detect(image, gain=1.0, rnoise=3.0)
        assert np.all(two.mask[one]) and two.mask.sum() >= one.sum()

    def test_gain_two_same_electrons(self):
        """Defect 8: gain 2 on the same electrons gives the same mask; cleaned scales exactly."""
        electrons, _ = _flat_with_crs(seed=9)
        det = LACosmicDetector({})
        e = det.detect(electrons, gain=1.0, rnoise=3.0)
        adu = det.detect(electrons / 2, gain=2.0, rnoise=1.5)
        np.testing.assert_array_equal(adu.mask, e.mask)
        np.testing.assert_array_equal(adu.cleaned * 2, e.cleaned)

    def test_padding_finds_edge_cr(self):
        image, _ = _flat_with_crs(n_cr=0)
        image[40, 0] += 3000.0
        pad0 = LACosmicDetector({"la_padwidth": 0, "la_fsmode": "median"})
        pad5 = LACosmicDetector({"la_padwidth": 5, "la_fsmode": "median"})
        assert not pad0.detect(image, gain=1.0, rnoise=3.0).mask[40, 0]
        assert pad5.detect(image, gain=1.0, rnoise=3.0).mask[40, 0]

    def test_radius_grows_with_iterations(self):
        r1 = lacosmic_radius(niter=1, sepmed=True, fsmode="convolve", psfsize=11)
        r4 = lacosmic_radius(niter=4, sepmed=True, fsmode="convolve", psfsize=11)
        assert (r1, r4) == (23, 71)
