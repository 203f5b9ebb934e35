"""Input frames and detector noise parameters: reading and up-front checks.

Policy for non-finite pixels (NaN, +-Inf): they are an error, raised before any
computation, naming the frame (file) and the number of bad pixels.  The
reference aborted on NaN only after the expensive detector passes and let Inf
through silently (defect 25).  Mask bad pixels (e.g. replace them with a local
value or list them in ``pixels_to_be_replaced_by_local_median``) before running.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from .exceptions import InputError
from .noise_values import NoiseRule, noise_problem

__all__ = ["NoiseModel", "check_frames", "noise_model", "read_frames"]


def _open_strict(path: Path):
    """``fits.open`` with a truncated file an error (astropy only warns, then pads)."""
    warnings.filterwarnings("error", "File may have been truncated")
    return fits.open(path, memmap=False)


def read_frames(
    paths: Sequence[str | os.PathLike],
    *,
    extnum: int | None = None,
    extname: str | None = None,
) -> list[np.ndarray]:
    """Read 2-D images from FITS files.

    Parameters
    ----------
    paths : sequence of path-like
        FITS files (never modified).
    extnum : int, optional
        HDU number to read (0 = primary).  The reference ignored it (defect 6).
    extname : str, optional
        HDU name to read; exclusive with ``extnum``.  Without either, the first
        HDU holding data is used.

    Returns
    -------
    list of ndarray
        The images as float32 arrays (ADU).

    Raises
    ------
    InputError
        A file is missing, unreadable, lacks the HDU, or holds no 2-D image.
    """
    if extnum is not None and extname is not None:
        raise InputError("extnum and extname: give one or the other, not both")
    frames = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise InputError(f"input image {p}: file not found")
        try:
            with warnings.catch_warnings(), _open_strict(p) as hdul:
                if extname is not None:
                    if extname not in hdul:
                        names = ", ".join(h.name for h in hdul)
                        raise InputError(
                            f"input image {p}: no HDU named {extname!r} (HDUs: {names})"
                        )
                    hdu = hdul[extname]
                elif extnum is not None:
                    if not 0 <= extnum < len(hdul):
                        raise InputError(
                            f"input image {p}: extnum={extnum} but the file has "
                            f"{len(hdul)} HDUs (0..{len(hdul) - 1})"
                        )
                    hdu = hdul[extnum]
                else:
                    hdu = next((h for h in hdul if h.data is not None), hdul[0])
                data = hdu.data
                if data is None or np.ndim(data) != 2:
                    shape = None if data is None else data.shape
                    raise InputError(
                        f"input image {p}: HDU {hdu.name!r} holds no 2-D image (data shape {shape})"
                    )
                frames.append(np.asarray(data, dtype=np.float32))
        except (OSError, AstropyUserWarning) as exc:
            raise InputError(f"input image {p}: cannot read it as FITS ({exc})") from exc
    return frames


def check_frames(
    frames: Sequence[np.ndarray],
    *,
    names: Sequence[str] | None = None,
    min_frames: int = 3,
) -> tuple[int, int]:
    """Check that the frames are N >= ``min_frames`` finite 2-D arrays of equal shape.

    Parameters
    ----------
    frames : sequence of ndarray
        Exposures.
    names : sequence of str, optional
        Names used in messages (file names), one per frame; default "frame 1",
        "frame 2"...
    min_frames : int, optional
        Minimum number of exposures (``mm_cr_coincidences + 1``).

    Returns
    -------
    tuple of int
        The common shape (ny, nx).

    Raises
    ------
    InputError
    """
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = list(frames)
    n = len(frames)
    names = list(names) if names is not None else [f"frame {i + 1}" for i in range(n)]
    if len(names) != n:
        raise InputError(f"frame names: expected {n} (one per exposure), got {len(names)}")
    if n < min_frames:
        raise InputError(
            f"images: expected at least {min_frames} exposures (mm_cr_coincidences + 1), got {n}"
        )
    shape = None
    for name, f in zip(names, frames, strict=True):
        if not isinstance(f, np.ndarray) or f.ndim != 2:
            raise InputError(
                f"{name}: expected a 2-D numpy array, got "
                f"{type(f).__name__} with shape {np.shape(f)}"
            )
        if not np.issubdtype(f.dtype, np.number) or np.iscomplexobj(f):
            raise InputError(f"{name}: expected real numbers, got dtype {f.dtype}")
        if shape is None:
            shape = f.shape
        elif f.shape != shape:
            raise InputError(
                f"{name}: shape {f.shape} differs from {names[0]} {shape}; "
                "all exposures must have the same shape"
            )
        if np.issubdtype(f.dtype, np.floating):
            bad = f.size - int(np.count_nonzero(np.isfinite(f)))
            if bad:
                raise InputError(
                    f"{name}: {bad} non-finite pixel(s) (NaN or Inf); replace or "
                    "interpolate them before computing the masks"
                )
    return shape


@dataclass(frozen=True)
class NoiseModel:
    """Detector parameters (scalars or 2-D arrays broadcast to the image).

    Attributes
    ----------
    gain : float or ndarray
        e-/ADU.
    rnoise : float or ndarray
        Read noise in ADU.
    bias : float or ndarray
        Bias level in ADU.
    """

    gain: float | np.ndarray
    rnoise: float | np.ndarray
    bias: float | np.ndarray

    @staticmethod
    def _scalar(v):
        a = np.asarray(v)
        if a.ndim == 0:
            return float(a)
        first = a.flat[0]
        return float(first) if np.all(a == first) else None

    @property
    def gain_scalar(self) -> float | None:
        """The gain if uniform, else None."""
        return self._scalar(self.gain)

    @property
    def rnoise_scalar(self) -> float | None:
        """The read noise (ADU) if uniform, else None."""
        return self._scalar(self.rnoise)

    @property
    def gain_median(self) -> float:
        """Median gain (e-/ADU)."""
        return float(np.median(self.gain))

    @property
    def rnoise_median(self) -> float:
        """Median read noise (ADU)."""
        return float(np.median(self.rnoise))


def noise_model(gain, rnoise, bias, *, shape: tuple[int, int]) -> NoiseModel:
    """Check gain, read noise and bias against the image shape.

    Parameters
    ----------
    gain : float or ndarray (ny, nx)
        e-/ADU, > 0.
    rnoise : float or ndarray (ny, nx)
        ADU, >= 0.
    bias : float or ndarray (ny, nx)
        ADU.
    shape : tuple
        Image shape.

    Returns
    -------
    NoiseModel
        Scalars stay scalars (no full-frame copies).

    Raises
    ------
    InputError
    """
    out = {}
    for name, value in (("gain", gain), ("rnoise", rnoise), ("bias", bias)):
        a = np.asarray(value, dtype=np.float64)
        rule = NoiseRule.of(name)
        problem = noise_problem(a, rule, shape=shape) if a.ndim in (0, 2) else "shape"
        if problem == "shape":
            raise InputError(
                f"{name}: expected a number or a 2-D array of shape {tuple(shape)}, "
                f"got shape {a.shape}"
            )
        if problem == "finite":
            raise InputError(f"{name}: expected finite values")
        if problem == "range":
            raise InputError(
                f"{name}: expected values {rule.text} ({rule.unit}), got minimum {a.min()}"
            )
        out[name] = float(a) if a.ndim == 0 else a.astype(np.float32)
    return NoiseModel(**out)
