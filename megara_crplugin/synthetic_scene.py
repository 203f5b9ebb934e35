"""The model classes of :mod:`megara_crplugin.synthetic`: scene, cosmic-ray events, frame set.

Units: the scene is in electrons, frames in ADU; mask polarity ``True`` =
pixel hit by a cosmic ray; arrays indexed ``[y, x]`` from 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CREvent", "MegaraScene", "SyntheticSet"]


@dataclass(frozen=True, eq=False)
class CREvent:
    """One injected cosmic-ray event.

    Attributes
    ----------
    kind : str
        ``'single'``, ``'blob'``, ``'track'`` or ``'worm'`` for random events
        hitting one frame; ``'double'`` / ``'triple'`` for designed events
        hitting the same pixels in exactly two frames / in all frames.
    frames : tuple of int
        0-based indices of the frames hit.
    ys, xs : ndarray of int
        Array indices of the pixels hit (same pixels in every frame hit).
    amplitudes : ndarray of float, shape (len(frames), npix)
        Flux deposited in each pixel of each frame hit (ADU).
    faint : bool
        ``True`` for designed multiple hits whose weaker hit was drawn between
        2 and 5 single-frame sigma (hard cases); ``False`` otherwise.
    """

    kind: str
    frames: tuple[int, ...]
    ys: np.ndarray
    xs: np.ndarray
    amplitudes: np.ndarray
    faint: bool = False

    @property
    def npix(self) -> int:
        """Number of pixels of the footprint."""
        return int(self.ys.size)

    @property
    def peak(self) -> np.ndarray:
        """Largest flux of the event in each frame hit (ADU), shape (len(frames),)."""
        return self.amplitudes.max(axis=1)

    def __repr__(self) -> str:
        peak = ", ".join(f"{p:.0f}" for p in self.peak)
        return (
            f"CREvent(kind={self.kind!r}, frames={self.frames}, npix={self.npix}, "
            f"y={int(self.ys[0])}, x={int(self.xs[0])}, peak_adu=({peak}), faint={self.faint})"
        )


@dataclass(frozen=True, eq=False)
class MegaraScene:
    """Noiseless spectrograph scene (electrons), evaluated analytically.

    Attributes
    ----------
    centres : ndarray, shape (n_fibres,)
        Row of each fibre trace at the central column (px).
    curvature : ndarray, shape (n_fibres,)
        Trace curvature: ``y(x) = centre + curvature * u**2`` with
        ``u = (x - xc) / xc`` and ``xc = (nx - 1) / 2`` (px at the edges).
    sigma : ndarray, shape (n_fibres,)
        Gaussian profile sigma along y (px).
    throughput, tilt : ndarray, shape (n_fibres,)
        Relative fibre throughput and its linear variation with ``u``.
    sky_line_x, sky_line_peak, sky_line_sigma : ndarray, shape (n_lines,)
        Column (px), peak at unit throughput (e-) and sigma along x (px) of
        each sky emission line.
    object_fibres : ndarray of int
        Fibres carrying the extended object.
    object_continuum, object_line_peak, object_line_x : ndarray
        Per object fibre: continuum peak (e-), emission-line peak (e-) and
        line column (px).
    sky_level, background : float
        Sky continuum peak (e-) and diffuse inter-fibre light (e-).
    sky_shape : ndarray, shape (3, 2)
        Amplitude, frequency (cycles per frame width) and phase of two slow
        sinusoidal modulations of the sky continuum along x.
    """

    centres: np.ndarray
    curvature: np.ndarray
    sigma: np.ndarray
    throughput: np.ndarray
    tilt: np.ndarray
    sky_line_x: np.ndarray
    sky_line_peak: np.ndarray
    sky_line_sigma: np.ndarray
    object_fibres: np.ndarray
    object_continuum: np.ndarray
    object_line_peak: np.ndarray
    object_line_x: np.ndarray
    sky_level: float
    background: float
    sky_shape: np.ndarray

    @property
    def n_fibres(self) -> int:
        """Number of fibres."""
        return int(self.centres.size)

    def trace(self, fibre: int, x: np.ndarray | float, *, nx: int) -> np.ndarray:
        """Row of the centre of ``fibre`` at column(s) ``x`` (px) for an image ``nx`` wide."""
        xc = (nx - 1) / 2
        u = (np.asarray(x, dtype=float) - xc) / xc
        return self.centres[fibre] + self.curvature[fibre] * u**2

    def render(self, shape: tuple[int, int], *, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
        """Evaluate the scene on the pixel grid, shifted by ``(dx, dy)`` px.

        Parameters
        ----------
        shape : tuple of int
            ``(ny, nx)``.
        dx, dy : float, optional
            Displacement of the scene (px): the value at pixel ``(y, x)`` is the
            unshifted model at ``(y - dy, x - dx)``.

        Returns
        -------
        ndarray of float64, shape (ny, nx)
            Expected signal in electrons (noiseless, bias-free).
        """
        ny, nx = shape
        xc, yc = (nx - 1) / 2, max((ny - 1) / 2, 1.0)
        x = np.arange(nx, dtype=float) - dx
        u = (x - xc) / xc
        v = (np.arange(ny, dtype=float) - dy - yc) / yc
        sky = self._sky_spectrum(x, u, nx)
        image = self.background * (1.0 + 0.3 * u[np.newaxis, :] + 0.2 * v[:, np.newaxis])
        objects = dict(zip(self.object_fibres.tolist(), self._object_spectra(x, u), strict=True))
        u2 = u**2
        for k in range(self.n_fibres):
            centre = self.centres[k] + dy + self.curvature[k] * u2
            half = 5.0 * self.sigma[k]
            y0 = max(int(np.floor(centre.min() - half)), 0)
            y1 = min(int(np.ceil(centre.max() + half)) + 1, ny)
            if y0 >= y1:
                continue
            rows = np.arange(y0, y1, dtype=float)[:, np.newaxis]
            profile = np.exp(-0.5 * ((rows - centre) / self.sigma[k]) ** 2)
            spectrum = self.throughput[k] * (1.0 + self.tilt[k] * u) * sky
            if k in objects:
                spectrum = spectrum + objects[k]
            image[y0:y1] += profile * spectrum
        return image

    def _sky_spectrum(self, x: np.ndarray, u: np.ndarray, nx: int) -> np.ndarray:
        amp, freq, phase = self.sky_shape
        modulation = 1.0 + np.sum(
            amp[:, None] * np.sin(2 * np.pi * freq[:, None] * x / nx + phase[:, None]), axis=0
        )
        sky = self.sky_level * (0.55 + 0.45 * (1.0 - u**2)) * modulation
        for xl, peak, sig in zip(
            self.sky_line_x, self.sky_line_peak, self.sky_line_sigma, strict=True
        ):
            lo, hi = np.searchsorted(x, [xl - 6 * sig, xl + 6 * sig])
            sky[lo:hi] += peak * np.exp(-0.5 * ((x[lo:hi] - xl) / sig) ** 2)
        return sky

    def _object_spectra(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        sig = 3.0 / 2.3548
        cont = self.object_continuum[:, None] * (1.0 + 0.3 * u[None, :])
        line = self.object_line_peak[:, None] * np.exp(
            -0.5 * ((x[None, :] - self.object_line_x[:, None]) / sig) ** 2
        )
        return cont + line


@dataclass(eq=False)
class SyntheticSet:
    """N equivalent synthetic exposures with their exact ground truth.

    Attributes
    ----------
    frames : ndarray, shape (N, ny, nx)
        The exposures (ADU, bias included, noise and cosmic rays added).
    signal : ndarray, shape (ny, nx)
        Noiseless expected signal (ADU, bias-free) for flux factor 1 and no offset.
    expected : ndarray, shape (N, ny, nx)
        Noiseless expectation of each frame after its flux factor and offset (ADU).
    cr_flux : ndarray, shape (N, ny, nx)
        Cosmic-ray flux added to each frame (ADU), 0 where no hit.
    truth : ndarray of bool, shape (N, ny, nx)
        ``True`` = pixel hit by a cosmic ray in that frame (``cr_flux > 0``).
    events : list of CREvent
        Every injected event, random and designed.
    gain : float
        Gain (e-/ADU).
    rnoise : float
        Read noise (ADU).
    bias : float
        Constant level added to every frame (ADU).
    flux_factors : ndarray, shape (N,)
        Frame i has expectation ``signal * flux_factors[i]`` (before shifting).
    offsets : ndarray, shape (N, 2)
        ``(dx, dy)`` displacement of each frame's scene (px); cosmic rays are
        not shifted.
    scene : MegaraScene or None
        The analytic scene (fibre traces, sky lines, object) in electrons.
    parameters : dict
        The arguments of :func:`make_megara_like_frames` (provenance).
    """

    frames: np.ndarray
    signal: np.ndarray
    expected: np.ndarray
    cr_flux: np.ndarray
    truth: np.ndarray
    events: list[CREvent]
    gain: float
    rnoise: float
    bias: float
    flux_factors: np.ndarray
    offsets: np.ndarray
    scene: MegaraScene | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        n, ny, nx = self.frames.shape
        return (
            f"SyntheticSet(n_frames={n}, shape=({ny}, {nx}), events={len(self.events)}, "
            f"cr_pixels={int(self.truth.sum())}, multi_hit={int(self.multi_hit.sum())}, "
            f"gain={self.gain}, rnoise={self.rnoise}, bias={self.bias})"
        )

    @property
    def n_frames(self) -> int:
        """Number of exposures."""
        return int(self.frames.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(ny, nx)``."""
        return tuple(self.frames.shape[1:])

    @property
    def hit_count(self) -> np.ndarray:
        """Number of frames in which each pixel was hit, shape (ny, nx), uint8."""
        return np.count_nonzero(self.truth, axis=0).astype(np.uint8)

    @property
    def multi_hit(self) -> np.ndarray:
        """Pixels hit by cosmic rays in two or more frames, shape (ny, nx) (True = hit).

        Includes the designed double/triple hits and every chance coincidence
        of random single-frame events.
        """
        return np.count_nonzero(self.truth, axis=0) >= 2

    @property
    def designed_multi_hit(self) -> np.ndarray:
        """Pixels of the designed ``'double'``/``'triple'`` events, shape (ny, nx) bool."""
        mask = np.zeros(self.shape, dtype=bool)
        for event in self.events:
            if len(event.frames) >= 2:
                mask[event.ys, event.xs] = True
        return mask

    @property
    def chance_multi_hit(self) -> np.ndarray:
        """Multi-hit pixels not belonging to any designed event (chance coincidences)."""
        return self.multi_hit & ~self.designed_multi_hit

    def median_raised_mask(self, *, min_sigma: float = 5.0) -> np.ndarray:
        """Pixels whose noiseless median is raised by cosmic rays by > ``min_sigma`` sigma.

        For each pixel the noiseless values ``(expected_i + cr_flux_i) / ff_i``
        are compared with ``expected_i / ff_i``: the raise is the difference of
        their medians over the frames and sigma is the single-frame noise
        ``sqrt(ref / gain + rnoise**2)`` (ADU) at the reference median ``ref``.
        With flux factors 1 and no offsets this is ``median_i(signal +
        cr_flux_i) - signal``.  Only pixels hit in at least one frame are
        evaluated.

        Parameters
        ----------
        min_sigma : float, optional
            Threshold in units of the single-frame noise (>= 0).

        Returns
        -------
        ndarray of bool, shape (ny, nx)
            ``True`` = median raised above the threshold by cosmic rays.
        """
        min_sigma = _check_real("min_sigma", min_sigma, minimum=0.0)
        mask = np.zeros(self.shape, dtype=bool)
        ys, xs = np.nonzero(self.truth.any(axis=0))
        if ys.size == 0:
            return mask
        ff = self.flux_factors.astype(float)[:, np.newaxis]
        base = self.expected[:, ys, xs].astype(float) / ff
        hit = base + self.cr_flux[:, ys, xs].astype(float) / ff
        ref = np.median(base, axis=0)
        raise_ = np.median(hit, axis=0) - ref
        sigma = np.sqrt(np.maximum(ref, 0.0) / self.gain + self.rnoise**2)
        mask[ys, xs] = raise_ > min_sigma * sigma
        return mask

    def double_hit_events(self, *, min_sigma: float = 5.0) -> list[CREvent]:
        """Designed multiple-hit events that raise the median by > ``min_sigma`` sigma.

        Parameters
        ----------
        min_sigma : float, optional
            Threshold in units of the single-frame noise (see
            :meth:`median_raised_mask`).

        Returns
        -------
        list of CREvent
            Events hitting two or more frames with at least one pixel in
            ``median_raised_mask(min_sigma=min_sigma)``.  Chance coincidences
            of random events are not events; find them with
            :meth:`median_raised_mask` and :attr:`chance_multi_hit`.
        """
        mask = self.median_raised_mask(min_sigma=min_sigma)
        return [ev for ev in self.events if len(ev.frames) >= 2 and mask[ev.ys, ev.xs].any()]

    def events_caught(self, mediancr: np.ndarray, *, min_sigma: float = 5.0) -> tuple[int, int]:
        """How many :meth:`double_hit_events` touch ``mediancr`` (True = cosmic ray).

        Returns
        -------
        caught, total : int
            Events with at least one pixel in the mask, and all the events.
        """
        events = self.double_hit_events(min_sigma=min_sigma)
        return sum(bool(mediancr[ev.ys, ev.xs].any()) for ev in events), len(events)

    def false_features(self, features) -> int:
        """Number of ``features`` (objects with ``ys``, ``xs``) touching no cosmic-ray pixel."""
        any_cr = self.truth.any(axis=0)
        return sum(not any_cr[f.ys, f.xs].any() for f in features)


# --------------------------------------------------------------------------- validation


def _check_real(name: str, value: Any, *, minimum: float | None = None, strict=False) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (out <= minimum if strict else out < minimum):
        rule = ">" if strict else ">="
        raise ValueError(f"{name} must be {rule} {minimum}, got {value!r}")
    return out
