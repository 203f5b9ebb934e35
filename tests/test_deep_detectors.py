"""deepCR and Cosmic-CoNN adapters (optional extras; skipped when not installed).

Both run offline on the CPU with the weights shipped in their packages.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import ndimage

from megara_crplugin.config.detector_config import DeepCRConfig
from megara_crplugin.detectors import get_detector

CR_PIXELS = ((40, 50), (41, 50), (90, 20), (90, 21), (90, 22), (20, 100), (21, 101))


def _image_with_crs(gain=1.0):
    """128 x 128 sky of 200 e- with three 2-3 pixel cosmic rays; returned in ADU for ``gain``."""
    rng = np.random.default_rng(0)
    electrons = rng.poisson(200.0, (128, 128)).astype(np.float32)
    electrons += rng.normal(0.0, 5.0, (128, 128)).astype(np.float32)
    truth = np.zeros(electrons.shape, dtype=bool)
    for y, x in CR_PIXELS:
        electrons[y, x] += 3000.0
        truth[y, x] = True
    return electrons / np.float32(gain), truth


def _check_detection(mask, truth):
    assert mask.dtype == bool and mask.shape == truth.shape
    assert mask[truth].all()
    # the networks may flag the halo of a cosmic ray, hardly ever the clean sky
    far = ~ndimage.binary_dilation(truth, np.ones((5, 5), dtype=bool))
    assert (mask & far).sum() <= 0.001 * far.sum()


@pytest.fixture(scope="module")
def deepcr_detector():
    pytest.importorskip("deepCR", reason="optional extra 'deepcr' not installed")
    return get_detector("deepcr", {"dc_mask": "ACS_WFC", "dc_threshold": 0.5})


@pytest.fixture(scope="module")
def conn_detector():
    pytest.importorskip("cosmic_conn", reason="optional extra 'conn' not installed")
    return get_detector("conn", {"nn_model": "ground_imaging", "nn_threshold": 0.5})


class TestDeepCR:
    def test_finds_cosmic_rays_and_cleans_in_adu(self, deepcr_detector):
        image, truth = _image_with_crs(gain=2.0)
        before = image.copy()
        det = deepcr_detector.detect(image, gain=2.0, rnoise=2.5)
        np.testing.assert_array_equal(image, before)
        _check_detection(det.mask, truth)
        np.testing.assert_array_equal(det.cleaned[~det.mask], image[~det.mask])
        # replaced by the local sky (100 ADU at gain 2), not left at the CR level
        assert np.all(np.abs(det.cleaned[truth] - 100.0) < 15.0)

    def test_recipe_spelling_of_the_model_is_accepted(self, deepcr_detector):
        """Defect 11: the recipe default 'ACS_WFC' means 'ACS-WFC'."""
        assert deepcr_detector.params["dc_mask"] == "ACS-WFC"

    def test_recipe_spelling_in_a_frozen_configuration_is_not_changed(self):
        pytest.importorskip("deepCR")
        given = DeepCRConfig.from_params({"dc_mask": "ACS_WFC"})
        detector = get_detector("mm_deepcr", given)
        assert given.dc_mask == "ACS_WFC"  # the caller's frozen object is left alone
        assert detector.config.dc_mask == "ACS-WFC" and detector.config.dc_threshold == 0.5

    def test_threshold_validated(self):
        pytest.importorskip("deepCR")
        with pytest.raises(ValueError, match=r"dc_threshold must be between 0 and 1 \(exclusive\)"):
            get_detector("deepcr", {"dc_threshold": 1.0})


class TestCosmicConn:
    def test_finds_cosmic_rays_without_cleaning(self, conn_detector):
        image, truth = _image_with_crs()
        det = conn_detector.detect(image, gain=1.0, rnoise=5.0)
        _check_detection(det.mask, truth)
        assert det.cleaned is None and not conn_detector.provides_cleaned

    def test_root_logging_left_alone(self):
        pytest.importorskip("cosmic_conn")
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        get_detector("mm_conn", {"nn_model": "NRES"})
        assert root.handlers == handlers and root.level == level

    def test_model_validated(self):
        pytest.importorskip("cosmic_conn")
        with pytest.raises(ValueError, match=r"nn_model must be one of ground_imaging, NRES"):
            get_detector("conn", {"nn_model": "HST"})
