"""The shared-step L.A.Cosmic engine is bit-identical to astroscrappy (issue 11).

:mod:`megara_crplugin.detectors._lacosmic_steps` computes the first detection
step once for both runs and the later steps only on windows around the pixels
whose cleaned values changed.  Each case compares its masks and cleaned images
with :func:`astroscrappy.detect_cosmics` called with the same settings, on
seeded frames dense enough for the mosaic of windows, the windows at the image
edges and the full-frame fallback to be used.
"""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin.detectors import _lacosmic_steps as steps
from megara_crplugin.detectors.lacosmic import LACosmicDetector, gaussxy_kernel
from megara_crplugin.synthetic import make_megara_like_frames

astroscrappy = pytest.importorskip("astroscrappy")

GAIN, RNOISE = 1.3, 3.4  # e-/ADU, ADU


def _frame(shape=(180, 220), *, seed=3, cr_fraction=2e-3):
    sset = make_megara_like_frames(shape, seed=seed, cr_fraction=cr_fraction, n_double_hits=3)
    return np.ascontiguousarray(sset.frames[0], dtype=np.float32), sset


def _reference(image, runs, *, niter, sepmed, fsmode, psfmodel, psfk, satlevel):
    out = []
    for sigclip, sigfrac, objlim in runs:
        out.append(
            astroscrappy.detect_cosmics(
                image,
                sigclip=sigclip,
                sigfrac=sigfrac,
                objlim=objlim,
                gain=GAIN,
                readnoise=RNOISE * GAIN,
                satlevel=satlevel * GAIN,
                niter=niter,
                sepmed=sepmed,
                cleantype="meanmask",
                fsmode=fsmode,
                psfmodel=psfmodel,
                psffwhm=2.5,
                psfsize=11 if fsmode == "convolve" else 7,
                psfk=psfk,
                verbose=False,
            )
        )
    return out


CASES = {
    "megaradrp defaults": dict(niter=4, sepmed=True, fsmode="convolve", psfmodel="gaussxy"),
    "median fine structure, full medians": dict(
        niter=3, sepmed=False, fsmode="median", psfmodel="gauss"
    ),
    "astroscrappy's own gauss kernel": dict(
        niter=2, sepmed=True, fsmode="convolve", psfmodel="gauss"
    ),
    "one iteration": dict(niter=1, sepmed=True, fsmode="convolve", psfmodel="gaussx"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("threads", ["1", "2"])
def test_runs_equal_detect_cosmics(case, threads, monkeypatch):
    c = CASES[case]
    monkeypatch.setenv("OMP_NUM_THREADS", threads)  # the strips one by one or in threads
    monkeypatch.setattr(steps, "LAPLACE_ROWS", 37)  # the Laplacian by blocks of rows
    monkeypatch.setattr(steps, "STRIP_ROWS", 41)  # the first step by strips of rows
    heights = []
    step = steps._step
    monkeypatch.setattr(steps, "_step", lambda *a: heights.append(a[0].shape[0]) or step(*a))
    image, _ = _frame()
    psfk = gaussxy_kernel(2.5, 2.5, 11) if c["psfmodel"] == "gaussxy" else None
    engine_psfk = psfk
    if psfk is None and c["fsmode"] == "convolve":
        engine_psfk = steps.astroscrappy_kernel(c["psfmodel"], 2.5, 11)
    settings = steps.Settings(
        gain=GAIN,
        readnoise=RNOISE * GAIN,
        satlevel=65535.0 * GAIN,
        niter=c["niter"],
        sepmed=c["sepmed"],
        fsmode=c["fsmode"],
        psfk=engine_psfk,
    )
    windows = []
    run_windows = steps._run_windows
    monkeypatch.setattr(
        steps, "_run_windows", lambda r, p, w, s: windows.append(len(w)) or run_windows(r, p, w, s)
    )
    runs = [(5.0, 0.3, 5.0), (3.0, 0.3, 5.0)]
    got = steps.lacosmic_runs(image, settings, runs)
    ref = _reference(
        image,
        runs,
        niter=c["niter"],
        sepmed=c["sepmed"],
        fsmode=c["fsmode"],
        psfmodel="gauss" if c["psfmodel"] == "gaussxy" else c["psfmodel"],
        psfk=psfk,
        satlevel=65535.0,
    )
    for (mask, cleaned), (ref_mask, ref_cleaned) in zip(got, ref, strict=True):
        assert ref_mask.sum() > 20  # the comparison sees detections
        np.testing.assert_array_equal(mask, ref_mask)
        np.testing.assert_array_equal(cleaned, ref_cleaned)
    if c["niter"] > 2:
        assert windows  # later steps ran on windows (not only the full-frame fallback)
    assert heights[0] < image.shape[0] and len(heights) >= 5  # the first step in strips


def test_saturated_cores_and_no_detection():
    """The saturation mask and an image without detections (early stop) as astroscrappy."""
    image, _ = _frame((120, 150), seed=8, cr_fraction=1e-3)
    image[50:60, 70:80] += 900.0  # a saturated blob (satlevel below)
    settings = steps.Settings(
        gain=GAIN,
        readnoise=RNOISE * GAIN,
        satlevel=500.0 * GAIN,
        niter=4,
        sepmed=True,
        fsmode="convolve",
        psfk=gaussxy_kernel(2.5, 2.5, 11),
    )
    kw = dict(niter=4, sepmed=True, fsmode="convolve", psfmodel="gauss", psfk=settings.psfk)
    for img in (image, np.full((64, 64), 100.0, dtype=np.float32)):
        (mask, cleaned), (ref_mask, ref_cleaned) = (
            steps.lacosmic_runs(img, settings, [(4.5, 0.3, 5.0)])[0],
            _reference(img, [(4.5, 0.3, 5.0)], satlevel=500.0, **kw)[0],
        )
        np.testing.assert_array_equal(mask, ref_mask)
        np.testing.assert_array_equal(cleaned, ref_cleaned)


def test_full_frame_fallback_of_a_dense_frame():
    """At a high density a later step covers most of the frame and runs on all of it."""
    image, _ = _frame((128, 128), seed=5, cr_fraction=2e-2)
    settings = steps.Settings(
        gain=GAIN,
        readnoise=RNOISE * GAIN,
        satlevel=65535.0 * GAIN,
        niter=2,
        sepmed=True,
        fsmode="convolve",
        psfk=gaussxy_kernel(2.5, 2.5, 11),
    )
    kw = dict(niter=2, sepmed=True, fsmode="convolve", psfmodel="gauss", psfk=settings.psfk)
    ((mask, cleaned),) = steps.lacosmic_runs(image, settings, [(3.0, 0.3, 5.0)])
    ((ref_mask, ref_cleaned),) = _reference(image, [(3.0, 0.3, 5.0)], satlevel=65535.0, **kw)
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_array_equal(cleaned, ref_cleaned)


@pytest.mark.parametrize("pad", [0, 10])
def test_detector_result_unchanged(pad):
    """The adapter's merged two-pass result equals the one from two astroscrappy calls."""
    image, sset = _frame((200, 230), seed=12)
    params = {"la_padwidth": pad}
    new = LACosmicDetector(params).detect(image, gain=GAIN, rnoise=RNOISE)
    old = LACosmicDetector(params, windowed=False).detect(image, gain=GAIN, rnoise=RNOISE)
    assert (new.mask & (sset.cr_flux[0] > 0)).sum() > 20
    np.testing.assert_array_equal(new.mask, old.mask)
    np.testing.assert_array_equal(new.cleaned, old.cleaned)


def test_unsupported_settings_use_astroscrappy(monkeypatch):
    """cleantype other than meanmask, a background image: astroscrappy is called as before."""
    image, _ = _frame((96, 96), seed=2)
    called = []
    monkeypatch.setattr(
        "megara_crplugin.detectors.lacosmic.lacosmic_runs", lambda *a: called.append(a)
    )
    LACosmicDetector({"la_cleantype": "medmask"}).detect(image, gain=GAIN, rnoise=RNOISE)
    LACosmicDetector({}).detect(
        image, gain=GAIN, rnoise=RNOISE, background=np.full(image.shape, 50.0)
    )
    assert not called


@pytest.mark.parametrize("n_pixels", [101, 100])
@pytest.mark.parametrize("saturated", [False, True])
def test_fallback_levels_equal_astroscrappys_medians(n_pixels, saturated):
    # the cleaning fallbacks: astroscrappy's quickselect medians of the good
    # pixels of the image and of its variance; found here by one partition
    from astroscrappy.utils import median

    rng = np.random.default_rng(n_pixels)
    image = (rng.normal(40.0, 7.0, (n_pixels, 9)) * np.float32(GAIN)).astype(np.float32)
    bad = np.zeros(image.shape, dtype=bool)
    if saturated:
        bad[rng.random(image.shape) < 0.3] = True
    rn2 = float(np.float32(RNOISE * GAIN) ** 2)
    level, var_level = steps._fallback_levels(image, bad, rn2)
    good = np.ascontiguousarray(image[~bad])
    variance = np.ascontiguousarray((image + rn2)[~bad])
    assert level == median(good, len(good))
    assert var_level == median(variance, len(variance))


def test_cleaning_ignores_the_border_and_masked_neighbours():
    # a 2-px border is never cleaned (astroscrappy); neighbours that are cosmic
    # rays or masked do not enter the mean; none usable: the fallback level
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    crmask = np.zeros((10, 10), dtype=bool)
    crmask[1, 5] = crmask[5, 5] = True
    bad = crmask.copy()
    bad[4, 4] = True
    positions = steps._clean_positions(crmask, bad)
    assert positions[0].tolist() == [5] and positions[1].tolist() == [5]
    values = steps._clean_values(image, positions, fallback=-1.0)
    window = image[3:8, 3:8].astype(np.float64)
    expected = (window.sum() - image[5, 5] - image[4, 4]) / 23.0
    assert values[0] == pytest.approx(expected, rel=1e-6)
    everything = np.ones((10, 10), dtype=bool)
    assert steps._clean_values(image, steps._clean_positions(crmask, everything), -1.0)[0] == -1.0
