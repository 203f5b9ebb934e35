"""Input frames, noise parameters, offsets and flux factors (defects 6, 20, 25)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from megara_crplugin.alignment import measure_offset, shift_image
from megara_crplugin.exceptions import InputError
from megara_crplugin.fluxfactor import estimate_flux_factors
from megara_crplugin.inputs import check_frames, noise_model, read_frames
from megara_crplugin.stacking import build_stack
from megara_crplugin.synthetic import make_megara_like_frames

# ----------------------------------------------------------------------------- read_frames


@pytest.fixture
def two_hdu_file(tmp_path):
    """Dummy 10 x 10 image in HDU 0, the real 20 x 30 image in HDU 1 (EXTNAME SCI)."""
    image = np.arange(600, dtype=np.float32).reshape(20, 30)
    path = tmp_path / "two_hdu.fits"
    fits.HDUList(
        [fits.PrimaryHDU(np.zeros((10, 10), np.int16)), fits.ImageHDU(image, name="SCI")]
    ).writeto(path)
    return path, image


def test_extnum_and_extname_are_honoured(two_hdu_file):
    """Defect 6: the reference ignored extnum and always read the primary HDU."""
    path, image = two_hdu_file
    np.testing.assert_array_equal(read_frames([path], extnum=1)[0], image)
    np.testing.assert_array_equal(read_frames([path], extname="SCI")[0], image)
    dummy = read_frames([path], extnum=0)[0]
    assert dummy.shape == (10, 10)
    out = read_frames([path])[0]  # default: the first HDU holding data
    assert out.shape == (10, 10) and out.dtype == np.float32


def test_read_frames_errors_name_the_file(two_hdu_file, tmp_path):
    path, _ = two_hdu_file
    with pytest.raises(InputError, match=r"extnum and extname: give one or the other"):
        read_frames([path], extnum=1, extname="SCI")
    with pytest.raises(InputError, match=rf"input image {path}: extnum=5 but the file has 2 HDUs"):
        read_frames([path], extnum=5)
    with pytest.raises(InputError, match=r"no HDU named 'VAR' \(HDUs: PRIMARY, SCI\)"):
        read_frames([path], extname="VAR")
    missing = tmp_path / "nope.fits"
    with pytest.raises(InputError, match=rf"input image {missing}: file not found"):
        read_frames([path, missing])
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.zeros((2, 3, 4), np.float32)).writeto(cube)
    with pytest.raises(InputError, match=r"holds no 2-D image \(data shape \(2, 3, 4\)\)"):
        read_frames([cube])
    text = tmp_path / "text.fits"
    text.write_text("not a FITS file at all\n" * 200)
    with pytest.raises(InputError, match=rf"input image {text}: cannot read it as FITS"):
        read_frames([text])


def test_read_frames_never_modifies_the_file(two_hdu_file):
    path, _ = two_hdu_file
    before = path.read_bytes()
    frames = read_frames([path], extnum=1)
    frames[0][:] = -1
    assert path.read_bytes() == before


def test_read_real_file_with_empty_primary(shared_data_dir):
    """WHT/ISIS raw frame: no data in the primary, uint16 + BZERO image in HDU 1."""
    path = shared_data_dir / "aspired_wht_isis_red" / "r2701253.fit.gz"
    frame = read_frames([path])[0]
    assert frame.shape == (4200, 966) and frame.dtype == np.float32
    np.testing.assert_array_equal(read_frames([path], extnum=1)[0], frame)
    assert frame.min() >= 0 and frame.max() <= 65535  # BZERO applied, unsigned range
    with pytest.raises(InputError, match="HDU 'PRIMARY' holds no 2-D image"):
        read_frames([path], extnum=0)


# ---------------------------------------------------------------------------- check_frames


def _ok(n=3, shape=(6, 7)):
    return [np.ones(shape, dtype=np.float32) for _ in range(n)]


def test_check_frames_returns_the_shape():
    assert check_frames(_ok()) == (6, 7)
    assert check_frames(np.ones((3, 4, 5))) == (4, 5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_counted_and_named(bad):
    """Defect 25: NaN and +-Inf are refused up front, naming the frame and the count."""
    frames = _ok()
    frames[1][0, :3] = bad
    with pytest.raises(InputError, match=r"^frame 2: 3 non-finite pixel\(s\) \(NaN or Inf\)"):
        check_frames(frames)
    with pytest.raises(InputError, match=r"^b\.fits: 3 non-finite pixel"):
        check_frames(frames, names=["a.fits", "b.fits", "c.fits"])


def test_check_frames_errors():
    with pytest.raises(InputError, match=r"expected at least 3 exposures .* got 2"):
        check_frames(_ok(2))
    with pytest.raises(InputError, match=r"expected at least 4 exposures"):
        check_frames(_ok(3), min_frames=4)
    frames = _ok()
    frames[2] = np.ones((6, 8))
    with pytest.raises(InputError, match=r"frame 3: shape \(6, 8\) differs from frame 1 \(6, 7\)"):
        check_frames(frames)
    frames = _ok()
    frames[0] = np.ones(5)
    with pytest.raises(InputError, match=r"frame 1: expected a 2-D numpy array, got ndarray"):
        check_frames(frames)
    frames = _ok()
    frames[1] = [[1.0, 2.0]]
    with pytest.raises(InputError, match=r"frame 2: expected a 2-D numpy array, got list"):
        check_frames(frames)
    frames = _ok()
    frames[0] = np.ones((6, 7), dtype=complex)
    with pytest.raises(InputError, match=r"frame 1: expected real numbers, got dtype complex128"):
        check_frames(frames)


def test_integer_frames_are_accepted():
    frames = [np.full((4, 4), 1000, dtype=np.uint16) for _ in range(3)]
    assert check_frames(frames) == (4, 4)


# ----------------------------------------------------------------------------- noise_model


def test_noise_model_scalars_and_arrays():
    nm = noise_model(2.0, 3.0, 100.0, shape=(4, 5))
    assert (nm.gain_scalar, nm.rnoise_scalar, nm.gain_median) == (2.0, 3.0, 2.0)
    gain = np.full((4, 5), 1.5)
    gain[0, 0] = 2.0
    nm = noise_model(gain, np.full((4, 5), 3.0), 0.0, shape=(4, 5))
    assert nm.gain_scalar is None and nm.rnoise_scalar == 3.0
    assert nm.gain_median == 1.5


def test_noise_model_errors():
    with pytest.raises(InputError, match=r"gain: expected values > 0 \(e-/ADU\), got minimum 0"):
        noise_model(0.0, 3.0, 0.0, shape=(2, 2))
    with pytest.raises(InputError, match=r"rnoise: expected values >= 0 \(ADU\)"):
        noise_model(1.0, -1.0, 0.0, shape=(2, 2))
    msg = r"bias: expected a number or a 2-D array of shape \(2, 2\)"
    with pytest.raises(InputError, match=msg):
        noise_model(1.0, 1.0, np.zeros((3, 3)), shape=(2, 2))
    with pytest.raises(InputError, match=r"rnoise: expected finite values"):
        noise_model(1.0, np.nan, 0.0, shape=(2, 2))


# ------------------------------------------------------------------------- offsets (2.7)


def _blobs(shape, dx=0.0, dy=0.0, seed=0):
    """Sum of Gaussian blobs, analytically displaced by (dx, dy) pixels."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    img = np.zeros(shape)
    for _ in range(40):
        x0, y0 = rng.uniform(8, nx - 8), rng.uniform(8, ny - 8)
        s = rng.uniform(1.2, 3.0)
        r2 = (xx - x0 - dx) ** 2 + (yy - y0 - dy) ** 2
        img += rng.uniform(50, 500) * np.exp(-r2 / (2 * s * s))
    return img


@pytest.mark.parametrize("dx, dy", [(0.3, -0.45), (1.27, 0.6), (-2.15, 0.05), (0.0, 0.0)])
def test_measure_offset_recovers_subpixel_shifts(dx, dy):
    ref = _blobs((96, 112))
    moving = _blobs((96, 112), dx, dy)
    got = measure_offset(ref, moving)
    assert abs(got[0] - dx) < 0.02 and abs(got[1] - dy) < 0.02


def test_measure_offset_on_megara_like_scene():
    sset = make_megara_like_frames((128, 128), seed=2, n_double_hits=0, cr_fraction=0.0)
    ref = sset.scene.render((128, 128))
    moving = sset.scene.render((128, 128), dx=0.4, dy=-0.7)
    dx, dy = measure_offset(ref, moving)
    assert abs(dx - 0.4) < 0.02 and abs(dy + 0.7) < 0.02


def _fibres(amplitudes, dy=0.0, nx=64):
    y = np.arange(6.6 * len(amplitudes) + 6)[:, None]
    centres = 3.0 + 6.6 * np.arange(len(amplitudes)) + dy
    prof = np.exp(-0.5 * ((y - centres) / 1.2) ** 2) @ np.asarray(amplitudes, float)[:, None]
    return np.broadcast_to(prof, (y.size, nx)).copy()


def test_measure_offset_searches_within_max_shift_not_a_fibre_pitch_away():
    amps = np.random.default_rng(4).uniform(50, 500, 40)
    ref = _fibres(amps)
    # the exposure is shifted by 0.4 px, but its fibres' fluxes match the
    # reference's one fibre further: the correlation one pitch away is higher
    moving = _fibres(np.r_[amps[1:], amps[:1]], dy=0.4)
    assert measure_offset(ref, moving, max_shift=None)[1] == pytest.approx(0.4 - 6.6, abs=0.05)
    assert measure_offset(ref, moving)[1] == pytest.approx(0.4, abs=0.05)  # within 3 px


def test_measure_offsets_of_raw_exposures_ignore_the_double_hits_at_zero_lag():
    """High cosmic-ray rate, raw exposures (mmcosmic): a double hit is in the median and
    in one exposure at the same pixel; unfiltered, those pulled dy = 0.5 down to 0.35."""
    from megara_crplugin.alignment import measure_offsets

    true = np.array([(0.0, 0.0), (0.5, -0.5), (-0.5, 0.5)])
    sset = make_megara_like_frames((512, 512), seed=1, rate="high", n_double_hits=25, offsets=true)
    stack = np.asarray(sset.frames, np.float32)
    median = np.median(stack, axis=0)
    filtered = measure_offsets(median, stack)
    assert np.abs(filtered - true).max() < 0.06  # 0.03 measured
    unfiltered = measure_offsets(median, stack, raw=False)
    assert np.abs(unfiltered - true).max() > 0.1  # 0.15 measured


def test_shift_image_moves_content_to_larger_indices():
    img = np.zeros((9, 9), dtype=np.float32)
    img[4, 4] = 1.0
    out = shift_image(img, 2.0, 1.0)
    assert out.dtype == np.float32
    assert np.unravel_index(np.argmax(out), out.shape) == (5, 6)
    np.testing.assert_array_equal(shift_image(img, 0, 0), img)


# -------------------------------------------------------------------- flux factors (2.2.2)


def test_auto_flux_factors_of_equivalent_exposures_are_one():
    """Defect 20: the reference gave [1.01, 0.99, 1.01]; equivalent frames give 1."""
    sset = make_megara_like_frames((256, 256), seed=4, n_double_hits=0)
    ff, diag = estimate_flux_factors(build_stack(list(sset.frames)), gain=1.0, rnoise=3.4)
    assert np.all(np.abs(ff - 1.0) < 1e-3)
    assert len(diag) == 3 and diag[0]["hist"].shape == (101, 101)


def test_auto_flux_factors_recover_known_factors():
    sset = make_megara_like_frames((256, 256), seed=5, flux_factors=[0.8, 1.0, 1.2])
    ff, _ = estimate_flux_factors(build_stack(list(sset.frames)), gain=1.0, rnoise=3.4)
    np.testing.assert_allclose(ff, [0.8, 1.0, 1.2], rtol=0.02)
    assert ff[1] == 1.0


def test_auto_flux_factors_regions_and_fallback(caplog):
    sset = make_megara_like_frames((128, 128), seed=6, flux_factors=[0.9, 1.0, 1.1])
    stack = build_stack(list(sset.frames))
    lines = np.zeros((128, 128), dtype=bool)
    lines[:, 90:] = True  # the bright sky lines of this scene
    ff, _ = estimate_flux_factors(stack, region_mask=lines, gain=1.0, rnoise=3.4)
    np.testing.assert_allclose(ff, [0.9, 1.0, 1.1], rtol=0.02)
    faint = np.zeros((128, 128), dtype=bool)
    faint[:, 40:90] = True  # no pixel with S/N > 30 there
    with caplog.at_level("WARNING"):
        ff, _ = estimate_flux_factors(stack, region_mask=faint, gain=1.0, rnoise=3.4)
    np.testing.assert_array_equal(ff, [1.0, 1.0, 1.0])
    assert "fewer than 20 bright pixels in the regions; using 1.0" in caplog.text


def test_frame_names_must_match_the_frames():
    """A shorter name list used to end the checks early: frame 3's NaN went through."""
    frames = _ok()
    frames[2][0, 0] = np.nan
    with pytest.raises(InputError, match=r"^frame names: expected 3 \(one per exposure\), got 2"):
        check_frames(frames, names=["a.fits", "b.fits"])


def test_median3x3_is_scipy_median_filter():
    from scipy import ndimage

    from megara_crplugin.alignment import _median3x3

    image = np.random.default_rng(3).normal(100, 10, (37, 53)).astype(np.float32)
    image[5, 7] = 1e4
    np.testing.assert_array_equal(_median3x3(image), ndimage.median_filter(image, size=3))
