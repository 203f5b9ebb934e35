"""Relative (x, y) offsets between the exposures and the median.

Offsets follow the seed-001 convention: ``(dx, dy)`` of exposure i is how much
the median must be shifted for it to coincide with exposure i.  No plotting.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, ndimage

from ._selectnet import median_of

__all__ = ["measure_offset", "measure_offsets", "shift_image"]


def _upsampled_dft(data, size, factor, offsets):
    """DFT of ``data`` on a ``size`` x ``size`` grid upsampled by ``factor`` near ``offsets``."""
    ny, nx = data.shape
    oy, ox = offsets
    kx = np.exp(-2j * np.pi * (np.arange(size) - ox)[:, None] * fft.fftfreq(nx, factor)[None, :])
    ky = np.exp(-2j * np.pi * (np.arange(size) - oy)[:, None] * fft.fftfreq(ny, factor)[None, :])
    return ky @ data @ kx.T


#: Largest offset (px, each axis) searched by default: half of MEGARA's fibre pitch (6.6 px).
MAX_SHIFT = 3.0


def _peaks_within(power: np.ndarray, max_shift: float) -> np.ndarray:
    """``power`` at its local maxima within ``max_shift`` px of zero lag, -inf elsewhere.

    Local maxima only: where a higher peak lies just outside the window, the
    window's edge on its slope is not a match.  The whole window when it
    holds no local maximum.
    """
    lag_y = np.abs(fft.fftfreq(power.shape[0], 1.0 / power.shape[0]))[:, None]
    lag_x = np.abs(fft.fftfreq(power.shape[1], 1.0 / power.shape[1]))[None, :]
    inside = (lag_y <= max_shift) & (lag_x <= max_shift)
    local = ndimage.maximum_filter(power, size=3, mode="wrap") == power
    keep = inside & local if (inside & local).any() else inside
    return np.where(keep, power, -np.inf)


def measure_offset(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    upsample: int = 100,
    max_shift: float | None = MAX_SHIFT,
) -> tuple[float, float]:
    """Sub-pixel translation between two images by upsampled cross-correlation.

    The integer peak of the FFT cross-correlation is refined on a grid
    ``upsample`` times finer around it (Guizar-Sicairos et al. 2008 method).

    Parameters
    ----------
    reference : ndarray (ny, nx)
        The median image (region), ADU.
    moving : ndarray (ny, nx)
        One exposure (region), ADU.
    upsample : int, optional
        Precision is ``1 / upsample`` pixel.
    max_shift : float or None, optional
        The correlation peak is searched within ``max_shift`` pixels of no
        shift on each axis, at a local maximum (None: anywhere).  Fibre
        spectra repeat along y with the fibre pitch: the correlation has a
        peak at every multiple of it, nearly as high as the true one, and on
        a whole MEGARA frame one pitch away won (dy 6.1 px measured for -0.5).

    Returns
    -------
    dx, dy : float
        Shift (pixels) to apply to ``reference`` so it coincides with ``moving``.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    prod = fft.fft2(a - a.mean()) * np.conj(fft.fft2(b - b.mean()))
    # the real correlation: an anti-correlation (half a fibre pitch away) is no match
    power = fft.ifft2(prod).real
    shape = np.array(power.shape)
    if max_shift is not None:
        power = _peaks_within(power, max_shift)
    peak = np.array(np.unravel_index(np.argmax(power), power.shape), dtype=float)
    wrap = peak > shape // 2
    peak[wrap] -= shape[wrap]
    if upsample > 1:
        peak = np.round(peak * upsample) / upsample
        size = int(np.ceil(upsample * 1.5))
        centre = np.fix(size / 2.0)
        up = np.conj(_upsampled_dft(np.conj(prod), size, upsample, centre - peak * upsample))
        sub = np.array(np.unravel_index(np.argmax(np.abs(up)), up.shape), dtype=float)
        peak = peak + (sub - centre) / upsample
    # peak registers `moving` onto `reference`; the reference moves the other way
    dy, dx = -peak
    return float(dx), float(dy)


def shift_image(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift an image by (dx, dy) pixels with cubic-spline resampling.

    Parameters
    ----------
    image : ndarray (ny, nx)
        Image (ADU).
    dx, dy : float
        Shift along x and y (pixels); positive moves the content to larger indices.

    Returns
    -------
    ndarray
        The shifted image; pixels coming from outside take the nearest edge value.
    """
    if dx == 0 and dy == 0:
        return np.array(image, copy=True)
    return ndimage.shift(
        np.asarray(image, dtype=np.float64), (dy, dx), order=3, mode="nearest"
    ).astype(image.dtype)


def _median3x3(image: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.median_filter(image, size=3)``, the same values, 4x faster.

    The median of the nine shifted planes (edges mirrored as ndimage does)
    from the sorting network of :mod:`._selectnet`: 0.5 s instead of 2.2 s
    on a 4112 x 4096 image.
    """
    ny, nx = image.shape
    padded = np.pad(image, 1, mode="symmetric")
    return median_of([padded[dy : dy + ny, dx : dx + nx] for dy in range(3) for dx in range(3)])


def measure_offsets(reference: np.ndarray, exposures, *, raw: bool = True, **kwargs) -> np.ndarray:
    """Offsets ``(dx, dy)`` of each exposure from the median.

    A double hit is in the median *and* in one raw exposure at the same
    pixel, so at zero lag: at high cosmic-ray rates those pulled the offsets
    measured on raw exposures towards no shift (0.24-0.45 px for 0.5 on
    1024 x 1024 high-rate sets).  With ``raw`` both images of each
    correlation pass a 3 x 3 median filter first (0.44-0.56 px measured;
    symmetric, it blurs the fibres and lines of every image alike and leaves
    them where they were).  Exposures already cleaned by the Aux detector
    are correlated as they are (0.49-0.51 px measured; the filter would make
    that 0.44-0.56).

    Parameters
    ----------
    reference : ndarray (ny, nx)
        The median image (region), ADU.
    exposures : sequence of ndarray (ny, nx)
        The exposures (region), ADU.
    raw : bool, optional
        The exposures hold their cosmic rays (not cleaned by a detector).
    **kwargs
        Passed to :func:`measure_offset`.

    Returns
    -------
    ndarray, shape (N, 2)
        ``(dx, dy)`` of each exposure (px).
    """

    def prepared(image):
        image = np.asarray(image)
        return _median3x3(image) if raw else image

    ref = prepared(reference)
    return np.array([measure_offset(ref, prepared(e), **kwargs) for e in exposures])
