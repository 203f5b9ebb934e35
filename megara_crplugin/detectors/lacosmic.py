"""L.A.Cosmic (van Dokkum 2001, PASP 113, 1420) through :func:`astroscrappy.detect_cosmics`.

The adapter calls astroscrappy directly (no CCDData, no ccdproc), in float32,
with consistent units (defect 8 of docs/divergences.md fixed): the image is passed in ADU
together with ``gain`` (astroscrappy multiplies by it internally), the read
noise is converted to electrons, the saturation level ``la_satlevel`` (ADU)
to electrons, and the cleaned image comes back in ADU.

Two passes: ``la_sigclip``, ``la_sigfrac`` and ``la_objlim`` may be
pairs; run 1 ("peaks") uses the first values, run 2 ("tails") the second ones
and happens only when one of them differs.  With ``la_cleantype: meanmask`` and
no background image both runs come from :mod:`._lacosmic_steps` (their first
detection step shared, the later steps on windows around the changed pixels),
bit-identical to two :func:`astroscrappy.detect_cosmics` calls.  Otherwise
astroscrappy is called and run 2 is executed only on windows around the run-1
detections (:func:`.base.second_pass_windowed`), with a margin equal to the
dependency radius of astroscrappy (see :func:`lacosmic_radius`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..config.detector_config import LACosmicConfig
from ._lacosmic_steps import Settings, astroscrappy_kernel, lacosmic_runs, supported
from .base import (
    BaseDetector,
    Detection,
    _positive_scalar,
    as_pair,
    compose_cleaned,
    merge_peak_tail,
    second_pass_windowed,
    validate_image,
)

__all__ = ["LACosmicDetector", "gaussxy_kernel", "lacosmic_radius"]

_log = logging.getLogger(__name__)

_CLEANTYPES = ("median", "medmask", "meanmask", "idw")
_FSMODES = ("median", "convolve")
_PSFMODELS = ("gauss", "moffat", "gaussx", "gaussy", "gaussxy")


def gaussxy_kernel(fwhm_x: float, fwhm_y: float, size: int) -> np.ndarray:
    """Elliptical Gaussian kernel for the ``gaussxy`` PSF model.

    Parameters
    ----------
    fwhm_x, fwhm_y : float
        Full width at half maximum along X and Y (pixels).
    size : int
        Odd kernel size (pixels), at least 3.

    Returns
    -------
    ndarray of float32, shape (size, size)
        ``exp(-0.5 ((x / sx)**2 + (y / sy)**2))`` on the grid ``-h..h`` with
        ``s = FWHM / (2 sqrt(2 ln 2))``, normalised to sum 1 (symmetric, so
        flipping it, as astroscrappy does with its own kernels, changes nothing).
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"la_psfsize must be an odd integer >= 3, got {size!r}")
    if not (fwhm_x > 0 and fwhm_y > 0):
        raise ValueError(
            f"la_psffwhm_x and la_psffwhm_y must be > 0 pixels, got {fwhm_x!r}, {fwhm_y!r}"
        )
    factor = 2.0 * math.sqrt(2.0 * math.log(2.0))
    sx, sy = fwhm_x / factor, fwhm_y / factor
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    kernel = np.exp(-0.5 * ((x / sx) ** 2 + (y / sy) ** 2))
    kernel /= kernel.sum()
    return kernel[::-1, ::-1].astype(np.float32)


def lacosmic_radius(*, niter: int, sepmed: bool, fsmode: str, psfsize: int) -> int:
    """Dependency radius of :func:`astroscrappy.detect_cosmics` (pixels).

    The mask and cleaned value at a pixel depend only on input pixels within
    this Chebyshev distance, apart from the image-wide median used by
    astroscrappy to fill a pixel whose whole 5x5 neighbourhood is flagged.
    Per iteration: noise median (3 px separable 7x7 / 2 px 5x5), Laplacian
    (1), median of the significance image (3 / 2), fine-structure image
    (``psfsize // 2`` for ``convolve``, 2 / 1 for ``median``) and its median
    (4 / 3), two 3x3 growths (2) and the 5x5 cleaning (2); plus 7 px for the
    initial saturation mask.

    Parameters
    ----------
    niter : int
        Number of L.A.Cosmic iterations.
    sepmed : bool
        Separable median filters.
    fsmode : {'median', 'convolve'}
        Fine-structure mode.
    psfsize : int
        Kernel size (pixels) for ``convolve``.

    Returns
    -------
    int
        Radius in pixels.
    """
    noise = 3 if sepmed else 2
    smed = 3 if sepmed else 2
    fine = psfsize // 2 + noise if fsmode == "convolve" else (2 if sepmed else 1)
    fmed = 4 if sepmed else 3
    detect = max(max(1, noise) + smed, fine + fmed) + 2
    return 7 + niter * (detect + 2)


class LACosmicDetector(BaseDetector):
    """L.A.Cosmic through astroscrappy, in two passes (``la_*`` parameters).

    Parameters
    ----------
    params : mapping, optional
        ``la_*`` parameters (see ``defaults``); pairs give run 1 and run 2.
    windowed : bool, optional
        Use the shared-step engine (or, where it does not apply, run the second
        pass only around run-1 detections); False calls astroscrappy on the full
        frame for each run.  Same result; keyword-only, for tests and benchmarks.

    Notes
    -----
    ``la_gain_apply`` is accepted for compatibility but has no effect: the
    cleaned image is always returned in ADU (defect 8 of docs/divergences.md).
    ``la_verbose`` raises the adapter's own log messages from DEBUG to INFO;
    astroscrappy's prints are never enabled.
    """

    name: ClassVar[str] = "lacosmic"
    prefix: ClassVar[str] = "la_"
    provides_cleaned: ClassVar[bool] = True
    extra: ClassVar[str | None] = None
    package: ClassVar[str | None] = "astroscrappy"
    defaults: ClassVar[Mapping[str, Any]] = LACosmicConfig.defaults
    config_class: ClassVar[type[LACosmicConfig]] = LACosmicConfig
    config: LACosmicConfig

    def __init__(self, params: Mapping[str, Any] | None = None, *, windowed: bool = True):
        super().__init__(params)
        c = self.config
        self.sigclip = as_pair("la_sigclip", c.la_sigclip)
        self.sigfrac = as_pair("la_sigfrac", c.la_sigfrac)
        self.objlim = as_pair("la_objlim", c.la_objlim)
        self.windowed = bool(windowed)
        for key, choices in (
            ("la_cleantype", _CLEANTYPES),
            ("la_fsmode", _FSMODES),
            ("la_psfmodel", _PSFMODELS),
        ):
            if getattr(c, key) not in choices:
                raise ValueError(
                    f"{key} must be one of {', '.join(choices)}, got {getattr(c, key)!r}"
                )
        for key in ("la_niter", "la_psfsize", "la_padwidth"):
            value = getattr(c, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{key} must be an integer, got {value!r}")
        if c.la_niter < 1:
            raise ValueError(f"la_niter must be >= 1, got {c.la_niter!r}")
        if c.la_padwidth < 0:
            raise ValueError(f"la_padwidth must be >= 0 pixels, got {c.la_padwidth!r}")
        if not float(c.la_satlevel) > 0:
            raise ValueError(f"la_satlevel must be > 0 ADU, got {c.la_satlevel!r}")
        fx, fy = float(c.la_psffwhm_x), float(c.la_psffwhm_y)
        model = c.la_psfmodel
        self.psfk = gaussxy_kernel(fx, fy, int(c.la_psfsize)) if model == "gaussxy" else None
        self.psffwhm = {"gaussx": fx, "gaussy": fy}.get(model, 0.5 * (fx + fy))
        self.two_pass = (self.sigclip[0], self.sigfrac[0], self.objlim[0]) != (
            self.sigclip[1],
            self.sigfrac[1],
            self.objlim[1],
        )
        # the shared-step engine reproduces astroscrappy for these settings (else: astroscrappy)
        self.steps = supported(
            cleantype=c.la_cleantype, background=None, psfmodel=model, psfk=self.psfk
        )
        self.margin = lacosmic_radius(
            niter=int(c.la_niter),
            sepmed=bool(c.la_sepmed),
            fsmode=c.la_fsmode,
            psfsize=int(c.la_psfsize),
        )

    def detect(
        self,
        image: np.ndarray,
        *,
        gain: float,
        rnoise: float,
        background: np.ndarray | None = None,
    ) -> Detection:
        """Detect cosmic rays in one bias-subtracted image with L.A.Cosmic.

        Parameters
        ----------
        image : array_like, shape (ny, nx)
            Bias-subtracted image in ADU (finite values).  Not modified.
        gain : float
            Gain in e-/ADU (> 0).
        rnoise : float
            Read noise in ADU (>= 0); passed to astroscrappy as ``rnoise * gain`` e-.
        background : array_like, shape (ny, nx), optional
            Cosmic-ray-free background (e.g. a sky fit) in ADU, removed before
            detection but kept in the noise model and in the cleaned image
            (astroscrappy's ``inbkg``).

        Returns
        -------
        Detection
            ``mask`` (bool, True = cosmic ray) and ``cleaned`` (ADU, equal to
            the input outside the mask).

        Raises
        ------
        ValueError
            If the image, gain, read noise or background are invalid.
        """
        array = validate_image(image)
        gain = _positive_scalar("gain", gain)
        rnoise = _positive_scalar("rnoise", rnoise)
        if background is not None:
            background = validate_image(background)
            if background.shape != array.shape:
                raise ValueError(
                    f"background must have the image shape {array.shape}, got {background.shape}"
                )
        return self._detect(array, gain=gain, rnoise=rnoise, background=background)

    def _run(self, image, background, run: int, gain: float, readnoise_e: float):
        """One astroscrappy call on a float32 ADU image; returns (mask, cleaned ADU)."""
        import astroscrappy

        c = self.config
        mask, cleaned = astroscrappy.detect_cosmics(
            image,
            inbkg=background,
            sigclip=self.sigclip[run],
            sigfrac=self.sigfrac[run],
            objlim=self.objlim[run],
            gain=gain,
            readnoise=readnoise_e,
            satlevel=float(c.la_satlevel) * gain,
            niter=int(c.la_niter),
            sepmed=bool(c.la_sepmed),
            cleantype=c.la_cleantype,
            fsmode=c.la_fsmode,
            psfmodel="gauss" if c.la_psfmodel == "gaussxy" else c.la_psfmodel,
            psffwhm=self.psffwhm,
            psfsize=int(c.la_psfsize),
            psfk=self.psfk,
            psfbeta=float(c.la_psfbeta),
            verbose=False,
        )
        return mask, cleaned

    def _detect_steps(self, image, work, inner, gain: float, readnoise_e: float) -> Detection:
        """Both runs from one first step, later steps on windows (:mod:`._lacosmic_steps`)."""
        c = self.config
        psfk = self.psfk
        if psfk is None and c.la_fsmode == "convolve":  # the kernel astroscrappy would build
            psfk = astroscrappy_kernel(c.la_psfmodel, self.psffwhm, int(c.la_psfsize))
        settings = Settings(
            gain=gain,
            readnoise=readnoise_e,
            satlevel=float(c.la_satlevel) * gain,
            niter=int(c.la_niter),
            sepmed=bool(c.la_sepmed),
            fsmode=c.la_fsmode,
            psfk=psfk,
        )
        runs = [(self.sigclip[r], self.sigfrac[r], self.objlim[r]) for r in (0, 1)]
        t0 = time.perf_counter()
        results = lacosmic_runs(
            work, settings, runs if self.two_pass else runs[:1], values_only=True
        )
        full = []  # each run's cleaned values (at its own mask) back on the frame
        for run_mask, values in results:
            frame = np.zeros(run_mask.shape, dtype=values.dtype)
            frame[run_mask] = values
            full.append(frame)
        peaks, cleaned1 = results[0][0], full[0]
        if len(results) == 1:
            mask = peaks[inner]
            cleaned = compose_cleaned(image, mask, [(mask, cleaned1[inner])])
        else:
            tails, cleaned2 = results[1][0], full[1]
            mask = merge_peak_tail(peaks[inner], tails[inner])
            tails_in = tails[inner]
            cleaned = compose_cleaned(
                image, mask, [(tails_in, cleaned2[inner]), (~tails_in, cleaned1[inner])]
            )
        _log.log(
            self._log_level(),
            "L.A.Cosmic: %d px in %.2f s (shared first step)",
            int(mask.sum()),
            time.perf_counter() - t0,
        )
        return Detection(mask=mask, cleaned=cleaned)

    def _detect(
        self,
        image: np.ndarray,
        *,
        gain: float,
        rnoise: float,
        background: np.ndarray | None = None,
    ) -> Detection:
        pad = int(self.config.la_padwidth)
        level = self._log_level()
        work = np.asarray(image, dtype=np.float32)
        bkg = None if background is None else np.asarray(background, dtype=np.float32)
        if pad:
            work = np.pad(work, pad, mode="reflect")
            bkg = None if bkg is None else np.pad(bkg, pad, mode="reflect")
        inner = (slice(pad, work.shape[0] - pad), slice(pad, work.shape[1] - pad))
        readnoise_e = rnoise * gain

        planes = (work,) if bkg is None else (work, bkg)

        def run(which, image, sub_bkg=None):
            return self._run(image, sub_bkg, which, gain, readnoise_e)

        t0 = time.perf_counter()
        if self.windowed and bkg is None and self.steps:
            return self._detect_steps(image, work, inner, gain, readnoise_e)
        peaks, cleaned1 = run(0, *planes)
        t1 = time.perf_counter()
        _log.log(level, "L.A.Cosmic run 1: %d px in %.2f s", int(peaks[inner].sum()), t1 - t0)
        if not self.two_pass:
            mask = peaks[inner]
            cleaned = compose_cleaned(image, mask, [(mask, cleaned1[inner])])
            return Detection(mask=mask, cleaned=cleaned)

        # only the run-1 pixels of cleaned1 are used below (merged & ~tails lies in
        # peaks): keep those values, not the frame, while run 2 works (memory)
        at_peaks = cleaned1[peaks]
        del cleaned1
        if self.windowed:
            merged, tails, cleaned2 = second_pass_windowed(
                lambda *arrays: run(1, *arrays),
                planes,
                peaks,
                margin=self.margin + 2,
                crop=pad,
            )
        else:
            tails, cleaned2 = run(1, *planes)
            merged = merge_peak_tail(peaks[inner], tails[inner])
        del planes, work, bkg
        cleaned1 = np.zeros(peaks.shape, dtype=at_peaks.dtype)
        cleaned1[peaks] = at_peaks
        del peaks, at_peaks
        _log.log(
            level,
            "L.A.Cosmic run 2: %d px merged in %.2f s",
            int(merged.sum()),
            time.perf_counter() - t1,
        )
        tails_in = tails[inner]
        cleaned = compose_cleaned(
            image, merged, [(tails_in, cleaned2[inner]), (~tails_in, cleaned1[inner])]
        )
        return Detection(mask=merged, cleaned=cleaned)
