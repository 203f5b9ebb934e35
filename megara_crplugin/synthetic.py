"""Synthetic MEGARA-like exposures with exact cosmic-ray ground truth.

The frames imitate bias-subtracted, trimmed MEGARA LCB science exposures:
spectra run along x (the spectral direction is horizontal) and fibre traces
are stacked along y at the MEGARA pitch of about 6.6 px (623 fibres over 4112
rows).  Each fibre has a Gaussian profile in y, a slowly curved trace and its
own throughput; all fibres see a sky continuum and narrow sky emission lines
at fixed columns, and a few adjacent fibres carry an extended object
(continuum + emission line with a small velocity gradient).  Noise is
``Poisson(expected * gain) / gain + Normal(0, rnoise)``; cosmic rays (single
pixels, compact blobs, straight tracks and wiggly worms) are added after the
noise, so ``frames - bias - expected - cr_flux`` is pure noise everywhere.

Units: the scene is built in electrons and stored in ADU (electrons / gain);
``rnoise`` is in ADU, like everywhere in the pipeline (ADU = e- for MEGARA,
gain 1).  Mask polarity: ``True`` = pixel hit by a cosmic ray.
Coordinates: arrays are indexed ``[y, x]`` from 0.

All randomness comes from one ``numpy.random.default_rng(seed)``, split with
``Generator.spawn`` into independent streams for the scene, the cosmic rays
and the noise: the same seed gives identical arrays, and changing only the
cosmic-ray parameters leaves the scene and the noise draws unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_path
from .synthetic_rates import adapt_scene, faint_sigma, resolve_cr_fraction

__all__ = [
    "CREvent",
    "MegaraScene",
    "SyntheticSet",
    "make_megara_like_frames",
    "write_frames",
    "write_truth",
]

_LOG = logging.getLogger(__name__)

#: Fibre pitch of the MEGARA pseudo-slit on the detector (px): 623 fibres / 4112 rows.
MEGARA_FIBRE_PITCH = 4112 / 623
#: Nominal exposure time written in the headers (s).
_EXPTIME = 1200.0
#: Log-uniform range of cosmic-ray amplitudes (e-).
_CR_AMPLITUDE_E = (50.0, 10000.0)
#: Kinds of random single-frame events and their relative frequencies.
_RANDOM_KINDS = ("single", "blob", "track", "worm")
_RANDOM_KIND_P = np.array([0.30, 0.40, 0.18, 0.12])
#: Approximate mean number of pixels of one random event (sizes the first batch).
_MEAN_EVENT_PIXELS = 5.5
#: Sampling step along tracks (px).
_TRACK_STEP = 0.5
#: Median-raise range of faint designed double hits (in single-frame sigma).
_FAINT_SIGMA = (2.0, 5.0)
#: Minimum weaker-hit amplitude of bright designed multiple hits (in sigma).
_BRIGHT_SIGMA = 8.0
#: Rows processed at once when drawing the noise (bounds the temporaries).
_NOISE_CHUNK_ROWS = 256
_NEIGHBOURS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


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


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        ny, nx = shape
    except (TypeError, ValueError):
        raise ValueError(
            f"shape must be a pair (ny, nx) of integers >= 16, got {shape!r}"
        ) from None
    return _check_int("shape[0] (ny)", ny, minimum=16), _check_int("shape[1] (nx)", nx, minimum=16)


def _check_per_frame(name: str, value: Any, n_frames: int, width: int | None) -> np.ndarray:
    expected_shape = (n_frames,) if width is None else (n_frames, width)
    try:
        arr = np.array(value, dtype=float)  # a copy: the caller's array is never shared
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric with shape {expected_shape}") from None
    if arr.shape != expected_shape:
        raise ValueError(f"{name} must have shape {expected_shape}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values, got {arr.tolist()}")
    return arr


def _validate(params: dict[str, Any]) -> dict[str, Any]:
    """Check every argument of make_megara_like_frames before any work."""
    p = dict(params)
    p["shape"] = _check_shape(p["shape"])
    p["n_frames"] = n = _check_int("n_frames", p["n_frames"], minimum=1)
    p["gain"] = _check_real("gain", p["gain"], minimum=0.0, strict=True)
    p["rnoise"] = _check_real("rnoise", p["rnoise"], minimum=0.0)
    p["bias"] = _check_real("bias", p["bias"])
    p["cr_fraction"] = _check_real("cr_fraction", p["cr_fraction"], minimum=0.0)
    if p["cr_fraction"] > 0.05:
        raise ValueError(f"cr_fraction must be <= 0.05 (5 % of pixels), got {p['cr_fraction']!r}")
    p["faint_fraction"] = _check_real("faint_fraction", p["faint_fraction"], minimum=0.0)
    if p["faint_fraction"] > 1.0:
        raise ValueError(f"faint_fraction must be in [0, 1], got {p['faint_fraction']!r}")
    p["n_double_hits"] = _check_int("n_double_hits", p["n_double_hits"], minimum=0)
    p["n_triple_hits"] = _check_int("n_triple_hits", p["n_triple_hits"], minimum=0)
    if p["n_double_hits"] and n < 2:
        raise ValueError(f"n_double_hits > 0 needs n_frames >= 2, got n_frames={n}")
    if p["n_triple_hits"] and n < 3:
        raise ValueError(f"n_triple_hits > 0 needs n_frames >= 3, got n_frames={n}")
    ff = np.ones(n) if p["flux_factors"] is None else p["flux_factors"]
    p["flux_factors"] = _check_per_frame("flux_factors", ff, n, None)
    if np.any(p["flux_factors"] <= 0):
        raise ValueError(f"flux_factors must be > 0, got {p['flux_factors'].tolist()}")
    off = np.zeros((n, 2)) if p["offsets"] is None else p["offsets"]
    p["offsets"] = _check_per_frame("offsets", off, n, 2)
    dtype = np.dtype(p["dtype"])
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    p["dtype"] = dtype
    seed = p["seed"]
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise ValueError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    return p


# --------------------------------------------------------------------------- scene


def _make_scene(rng: np.random.Generator, shape: tuple[int, int]) -> MegaraScene:
    """Draw the fibre geometry, sky and object of one scene (electrons)."""
    ny, nx = shape
    pitch = min(MEGARA_FIBRE_PITCH, ny / 3)
    n_fib = max(1, int(ny / pitch + 1e-9))
    first = (ny - n_fib * pitch) / 2 + pitch / 2 - 0.5
    centres = first + pitch * np.arange(n_fib) + rng.uniform(-0.15, 0.15, n_fib)
    v = (centres - (ny - 1) / 2) / ((ny - 1) / 2)
    bend = min(1.0, nx / 4096)
    curvature = bend * (rng.uniform(-1.5, 1.5) + rng.uniform(-1.0, 1.0) * v)
    throughput = (1.0 - 0.12 * v**2) * np.clip(rng.normal(1.0, 0.05, n_fib), 0.8, 1.2)
    n_lines = max(3, round(40 * nx / 4096))
    n_bright = max(1, n_lines // 10)
    peaks = np.exp(rng.uniform(np.log(20.0), np.log(1500.0), n_lines))
    peaks[:n_bright] = rng.uniform(2000.0, 6000.0, n_bright)
    n_obj = min(int(np.clip(round(0.015 * n_fib), 3, 12)), n_fib)
    first_obj = int(rng.integers(0, n_fib - n_obj + 1))
    offset = np.arange(n_obj) - (n_obj - 1) / 2
    weight = np.exp(-0.5 * (offset / max(n_obj / 4, 0.5)) ** 2)
    line_x = rng.uniform(0.2, 0.8) * nx + rng.uniform(-0.3, 0.3) * offset
    return MegaraScene(
        centres=centres,
        curvature=curvature,
        sigma=rng.uniform(1.4, 1.9, n_fib),
        throughput=throughput,
        tilt=rng.normal(0.0, 0.03, n_fib),
        sky_line_x=rng.uniform(6.0, nx - 7.0, n_lines),
        sky_line_peak=peaks,
        sky_line_sigma=rng.uniform(2.0, 3.0, n_lines) / 2.3548,
        object_fibres=first_obj + np.arange(n_obj),
        object_continuum=rng.uniform(300.0, 1500.0) * weight,
        object_line_peak=rng.uniform(1500.0, 5000.0) * weight,
        object_line_x=line_x,
        sky_level=float(rng.uniform(20.0, 50.0)),
        background=float(rng.uniform(1.0, 4.0)),
        sky_shape=np.array(
            [rng.uniform(0.05, 0.15, 2), rng.uniform(0.5, 3.0, 2), rng.uniform(0, 2 * np.pi, 2)]
        ),
    )


def _expected_frames(scene: MegaraScene, p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (signal, expected) in ADU with the requested dtype."""
    shape, gain, dtype = p["shape"], p["gain"], p["dtype"]
    base = scene.render(shape)
    signal = (base / gain).astype(dtype)
    del base
    expected = np.empty((p["n_frames"], *shape), dtype=dtype)
    for i, ((dx, dy), ff) in enumerate(zip(p["offsets"], p["flux_factors"], strict=True)):
        if dx == 0.0 and dy == 0.0:
            np.multiply(signal, ff, out=expected[i], casting="unsafe")
        else:
            expected[i] = scene.render(shape, dx=dx, dy=dy) * (ff / gain)
    return signal, expected


# --------------------------------------------------------------------------- cosmic rays


def _log_uniform(rng: np.random.Generator, lo, hi, size=None) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _segment_cumsum(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum restarted at each segment start."""
    total = np.cumsum(values)
    return total - np.repeat(total[starts] - values[starts], counts)


def _blob_footprints(rng, amp: np.ndarray, *, max_neighbours: int = 8):
    """Core + 8-neighbours at 10-60 % of the core: returns (event, dy, dx, flux)."""
    n = amp.size
    include = rng.random((n, 8)) < rng.uniform(0.15, 0.6, (n, 1))
    if max_neighbours < 8:
        include &= np.argsort(rng.random((n, 8)), axis=1) < max_neighbours
    empty = ~include.any(axis=1)
    include[np.nonzero(empty)[0], rng.integers(0, 8, int(empty.sum()))] = True
    frac = rng.uniform(0.1, 0.6, (n, 8))
    ev_n, k = np.nonzero(include)
    event = np.concatenate([np.arange(n), ev_n])
    dy = np.concatenate([np.zeros(n, int), _NEIGHBOURS[k, 0]])
    dx = np.concatenate([np.zeros(n, int), _NEIGHBOURS[k, 1]])
    flux = np.concatenate([amp, amp[ev_n] * frac[ev_n, k]])
    order = np.argsort(event, kind="stable")
    return event[order], dy[order], dx[order], flux[order]


def _track_footprints(rng, level: np.ndarray, wiggle: np.ndarray):
    """Straight tracks (wiggle 0) or worms, 3-20 px long: returns (event, dy, dx, flux)."""
    n = level.size
    length = rng.uniform(3.0, 20.0, n)
    theta = rng.uniform(0.0, np.pi, n)
    counts = np.ceil(length / _TRACK_STEP).astype(int) + 1
    starts = np.cumsum(counts) - counts
    event = np.repeat(np.arange(n), counts)
    turn = rng.standard_normal(event.size) * wiggle[event] * np.sqrt(_TRACK_STEP)
    turn[starts] = 0.0
    angle = theta[event] + _segment_cumsum(turn, starts, counts)
    step_y, step_x = _TRACK_STEP * np.sin(angle), _TRACK_STEP * np.cos(angle)
    step_y[starts] = 0.0
    step_x[starts] = 0.0
    iy = np.rint(_segment_cumsum(step_y, starts, counts)).astype(int)
    ix = np.rint(_segment_cumsum(step_x, starts, counts)).astype(int)
    deposit = level[event] * _TRACK_STEP * rng.lognormal(0.0, 0.35, event.size)
    key = (event * 64 + iy + 32) * 64 + ix + 32
    unique, inverse = np.unique(key, return_inverse=True)
    flux = np.bincount(inverse, weights=deposit)
    return unique // 4096, (unique // 64) % 64 - 32, unique % 64 - 32, flux


def _random_batch(rng, n: int, shape: tuple[int, int]):
    """``n`` random events in one frame: (kind index, event, y, x, flux e-) in-bounds."""
    ny, nx = shape
    kinds = rng.choice(len(_RANDOM_KINDS), size=n, p=_RANDOM_KIND_P)
    amp = _log_uniform(rng, *_CR_AMPLITUDE_E, n)
    cy, cx = rng.integers(0, ny, n), rng.integers(0, nx, n)
    parts = []
    for k, kind in enumerate(_RANDOM_KINDS):
        ids = np.nonzero(kinds == k)[0]
        if ids.size == 0:
            continue
        if kind == "single":
            part = (np.arange(ids.size), np.zeros(ids.size, int), np.zeros(ids.size, int), amp[ids])
        elif kind == "blob":
            part = _blob_footprints(rng, amp[ids])
        else:
            wiggle = np.full(ids.size, 0.0 if kind == "track" else rng.uniform(0.15, 0.35))
            part = _track_footprints(rng, amp[ids], wiggle)
        parts.append((ids[part[0]], part[1], part[2], part[3]))
    event, dy, dx, flux = (np.concatenate(c) for c in zip(*parts, strict=True))
    order = np.argsort(event, kind="stable")
    event, y, x, flux = (
        event[order],
        cy[event[order]] + dy[order],
        cx[event[order]] + dx[order],
        flux[order],
    )
    inside = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
    return kinds, event[inside], y[inside], x[inside], flux[inside]


def _random_events(rng, frame: int, shape: tuple[int, int], cr_fraction: float, gain: float):
    """Random single-frame events covering about ``cr_fraction`` of the pixels."""
    target = cr_fraction * shape[0] * shape[1]
    if target <= 0:
        return []
    events: list[CREvent] = []
    covered = 0.0
    while covered < target:
        n = int(1.25 * (target - covered) / _MEAN_EVENT_PIXELS) + 8
        kinds, event, y, x, flux = _random_batch(rng, n, shape)
        npix = np.bincount(event, minlength=n)
        needed = int(np.searchsorted(np.cumsum(npix), target - covered)) + 1
        keep = min(needed, n)
        covered += float(npix[:keep].sum())
        bounds = np.concatenate([[0], np.cumsum(npix[:keep])])
        adu = flux / gain
        for j in range(keep):
            s = slice(bounds[j], bounds[j + 1])
            events.append(
                CREvent(_RANDOM_KINDS[kinds[j]], (frame,), y[s], x[s], adu[np.newaxis, s])
            )
    return events


def _designed_events(rng, kind: str, n: int, n_frames: int, expected_e, p: dict[str, Any]):
    """``n`` events hitting the same pixels in 2 frames (``'double'``) or all frames."""
    if n == 0:
        return []
    ny, nx = p["shape"]
    hits = 2 if kind == "double" else n_frames
    frames = np.sort(np.argsort(rng.random((n, n_frames)), axis=1)[:, :hits], axis=1)
    cy, cx = rng.integers(2, ny - 2, n), rng.integers(2, nx - 2, n)
    ref = np.median(expected_e[:, cy, cx], axis=0)
    sigma = np.sqrt(np.maximum(ref, 0.0) + (p["rnoise"] * p["gain"]) ** 2)
    faint = np.zeros(n, bool)
    if kind == "double":
        faint[: int(round(p["faint_fraction"] * n))] = True
    lo = np.maximum(_BRIGHT_SIGMA * sigma, _CR_AMPLITUDE_E[0])
    weak = np.where(
        faint,
        rng.uniform(*p.get("faint_sigma", _FAINT_SIGMA), n) * sigma,
        _log_uniform(rng, lo, np.maximum(5000.0, 2.0 * lo)),
    )
    factors = _log_uniform(rng, 1.2, 4.0, (n, hits))
    factors[np.arange(n), rng.integers(0, hits, n)] = 1.0  # one hit at the weak amplitude
    amp = weak[:, None] * factors
    single = rng.random(n) < 0.5
    event, dy, dx, frac = _blob_footprints(rng, np.ones(n), max_neighbours=4)
    keep = ~single[event] | ((dy == 0) & (dx == 0))
    event, dy, dx, frac = event[keep], dy[keep], dx[keep], frac[keep]
    jitter = rng.uniform(0.8, 1.2, (hits, event.size))
    jitter[:, frac == 1.0] = 1.0
    bounds = np.concatenate([[0], np.cumsum(np.bincount(event, minlength=n))])
    out = []
    for j in range(n):
        s = slice(bounds[j], bounds[j + 1])
        flux = amp[j][:, None] * frac[s][None, :] * jitter[:, s] / p["gain"]
        out.append(
            CREvent(
                kind,
                tuple(int(f) for f in frames[j]),
                cy[j] + dy[s],
                cx[j] + dx[s],
                flux,
                faint=bool(faint[j]),
            )
        )
    return out


def _accumulate(events: list[CREvent], n_frames: int, shape, dtype) -> np.ndarray:
    """Sum the events into the (N, ny, nx) cosmic-ray flux cube (ADU)."""
    cr = np.zeros((n_frames, *shape), dtype=dtype)
    for frame in range(n_frames):
        idx, flux = [], []
        for ev in events:
            if frame in ev.frames:
                idx.append(ev.ys * shape[1] + ev.xs)
                flux.append(ev.amplitudes[ev.frames.index(frame)])
        if idx:
            total = np.bincount(
                np.concatenate(idx), weights=np.concatenate(flux), minlength=shape[0] * shape[1]
            )
            cr[frame] = total.reshape(shape)
    return cr


# --------------------------------------------------------------------------- noise


def _add_noise(rng, expected: np.ndarray, cr: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Poisson(expected * gain) / gain + Normal(0, rnoise) + cr + bias (ADU)."""
    gain, rnoise, bias = p["gain"], p["rnoise"], p["bias"]
    frames = np.empty_like(expected)
    ny = expected.shape[1]
    for i in range(expected.shape[0]):
        for r0 in range(0, ny, _NOISE_CHUNK_ROWS):
            rows = slice(r0, min(r0 + _NOISE_CHUNK_ROWS, ny))
            lam = np.maximum(expected[i, rows], 0.0).astype(np.float64) * gain
            values = rng.poisson(lam) / gain
            if rnoise > 0:
                values += rnoise * rng.standard_normal(lam.shape, dtype=np.float32)
            values += cr[i, rows]
            values += bias
            frames[i, rows] = values
    return frames


# --------------------------------------------------------------------------- public API


def make_megara_like_frames(
    shape=(1024, 1024),
    n_frames=3,
    *,
    seed=0,
    gain=1.0,
    rnoise=3.4,
    bias=0.0,
    cr_fraction=None,
    n_double_hits=20,
    n_triple_hits=0,
    faint_fraction=0.2,
    flux_factors=None,
    offsets=None,
    sky_lines=True,
    extended_object=True,
    dtype=np.float32,
    rate="normal",
) -> SyntheticSet:
    """Make N equivalent MEGARA-like exposures with cosmic rays and exact truth.

    Parameters
    ----------
    shape : tuple of int, optional
        ``(ny, nx)``, each >= 16.  The fibre pitch stays at the MEGARA value
        (6.6 px; smaller only when ``ny < 20``) and the number of fibres
        scales with ``ny`` (623 for 4112 rows).
    n_frames : int, optional
        Number of exposures N (>= 1; >= 2 with double hits, >= 3 with triple hits).
    seed : int, numpy.random.Generator or None, optional
        Seed of the single ``numpy.random.default_rng`` used; ``None`` is not
        reproducible.
    gain : float, optional
        Gain (e-/ADU, > 0).  The scene and the cosmic rays are defined in
        electrons, so another gain gives the same electrons statistics.
    rnoise : float, optional
        Read noise (ADU, >= 0); 3.4 = MEGARA (gain 1).
    bias : float, optional
        Constant level added to every frame (ADU).
    cr_fraction : float, optional
        Fraction of pixels hit by random cosmic rays in each frame (0 to 0.05);
        default 0.002 (typical of a 1200 s MEGARA exposure, 0.15-0.3 %), or
        1,500 events per Mpix with ``rate='high'``.
    n_double_hits : int, optional
        Number of designed events hitting the same pixels (one pixel or a small
        blob) in exactly two frames with different amplitudes.
    n_triple_hits : int, optional
        Number of designed events hitting the same pixels in all frames.
    faint_fraction : float, optional
        Fraction (0-1) of the double hits whose weaker hit is only 2-5
        single-frame sigma (so the median is raised by less than 5 sigma); the
        others have their weaker hit >= max(8 sigma, 50 e-).
    flux_factors : sequence of float, optional
        Positive factor per frame: frame i's expectation is ``signal * ff[i]``
        (``ff[i]`` = exposure i / reference exposure).  Default all 1.
    offsets : sequence of (dx, dy), optional
        Displacement of each frame's scene (px, sub-pixel allowed).  The scene
        is re-evaluated analytically at the shifted positions, which conserves
        flux without interpolation artefacts.  Cosmic rays are not shifted.
    sky_lines : bool, optional
        Include sky emission lines (narrow lines at fixed x through all fibres).
    extended_object : bool, optional
        Include the extended object (a few bright fibres with an emission line).
    dtype : {numpy.float32, numpy.float64}, optional
        Data type of the image arrays.
    rate : {'normal', 'high'}, optional
        ``'high'``: 1,500 random events per Mpix per exposure, the sky
        continuum halved (most inter-fibre pixels below 20 e-) and faint
        double hits of 2-16 sigma (near the detection limit); see
        :mod:`megara_crplugin.synthetic_rates`.

    Returns
    -------
    SyntheticSet
        Frames (ADU, bias included), noiseless expectations, cosmic-ray flux
        and boolean truth (True = hit) per frame, plus the list of events.

    Raises
    ------
    ValueError
        If an argument is out of range; the message names it.

    Notes
    -----
    Frame i is ``Poisson(expected_i * gain) / gain + Normal(0, rnoise) +
    cr_flux_i + bias``.  Cosmic-ray amplitudes are log-uniform between 50 and
    10000 e-: single pixels, blobs (core + neighbours at 10-60 %) and straight
    or wiggly tracks 3-20 px long.  Coincidences of random events in several
    frames are recorded in ``truth`` and :attr:`SyntheticSet.multi_hit`.
    A 3 x 1024 x 1024 set takes well under 2 s.

    Examples
    --------
    >>> sset = make_megara_like_frames((256, 256), seed=1)
    >>> sset.frames.shape
    (3, 256, 256)
    """
    params = dict(
        shape=shape,
        n_frames=n_frames,
        seed=seed,
        gain=gain,
        rnoise=rnoise,
        bias=bias,
        cr_fraction=cr_fraction,
        n_double_hits=n_double_hits,
        n_triple_hits=n_triple_hits,
        faint_fraction=faint_fraction,
        flux_factors=flux_factors,
        offsets=offsets,
        sky_lines=bool(sky_lines),
        extended_object=bool(extended_object),
        dtype=dtype,
        rate=rate,
    )
    params["rate"], params["cr_fraction"] = resolve_cr_fraction(rate, cr_fraction)
    p = _validate(params)
    p["faint_sigma"] = faint_sigma(p["rate"])
    scene_rng, cr_rng, noise_rng = np.random.default_rng(seed).spawn(3)
    scene = _make_scene(scene_rng, p["shape"])
    scene = _strip_scene(scene, sky_lines=p["sky_lines"], extended_object=p["extended_object"])
    scene = adapt_scene(scene, p["rate"])
    signal, expected = _expected_frames(scene, p)
    events: list[CREvent] = []
    for i in range(p["n_frames"]):
        events += _random_events(cr_rng, i, p["shape"], p["cr_fraction"], p["gain"])
    expected_e = expected * p["gain"]
    events += _designed_events(cr_rng, "double", p["n_double_hits"], p["n_frames"], expected_e, p)
    events += _designed_events(cr_rng, "triple", p["n_triple_hits"], p["n_frames"], expected_e, p)
    del expected_e
    cr_flux = _accumulate(events, p["n_frames"], p["shape"], p["dtype"])
    frames = _add_noise(noise_rng, expected, cr_flux, p)
    provenance = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.items()}
    provenance["dtype"] = str(p["dtype"])
    provenance["seed"] = seed if not isinstance(seed, np.random.Generator) else repr(seed)
    sset = SyntheticSet(
        frames=frames,
        signal=signal,
        expected=expected,
        cr_flux=cr_flux,
        truth=cr_flux > 0,
        events=events,
        gain=p["gain"],
        rnoise=p["rnoise"],
        bias=p["bias"],
        flux_factors=p["flux_factors"],
        offsets=p["offsets"],
        scene=scene,
        parameters=provenance,
    )
    if _LOG.isEnabledFor(logging.INFO):
        _LOG.info(
            "synthetic set: %d x %s, %d events, %d CR pixels, %d multi-hit pixels",
            p["n_frames"],
            p["shape"],
            len(events),
            int(sset.truth.sum()),
            int(sset.multi_hit.sum()),
        )
    return sset


def _strip_scene(scene: MegaraScene, *, sky_lines: bool, extended_object: bool) -> MegaraScene:
    """Drop the sky lines and/or the object after drawing (keeps the RNG stream stable)."""
    changes: dict[str, Any] = {}
    if not sky_lines:
        changes.update(
            sky_line_x=scene.sky_line_x[:0],
            sky_line_peak=scene.sky_line_peak[:0],
            sky_line_sigma=scene.sky_line_sigma[:0],
        )
    if not extended_object:
        changes.update(
            object_fibres=scene.object_fibres[:0],
            object_continuum=scene.object_continuum[:0],
            object_line_peak=scene.object_line_peak[:0],
            object_line_x=scene.object_line_x[:0],
        )
    if not changes:
        return scene
    return replace(scene, **changes)


# --------------------------------------------------------------------------- FITS output


def _atomic_write(hdul, path: Path) -> None:
    """Write ``hdul`` to a temporary file beside ``path``, then rename it."""
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify="exception")


def _content_uuid(array: np.ndarray) -> str:
    """UUID derived from the pixel values: same data, same UUID (reproducible files)."""
    digest = hashlib.blake2b(np.ascontiguousarray(array).view(np.uint8), digest_size=16)
    return str(uuid.UUID(bytes=digest.digest(), version=4))


def _check_sset(sset: Any) -> None:
    if not isinstance(sset, SyntheticSet):
        raise TypeError(f"sset must be a SyntheticSet, got {type(sset).__name__}")


def _prepare_directory(directory: Any) -> Path:
    try:
        path = Path(os.fspath(directory))
    except TypeError:
        raise TypeError(f"directory must be a path, got {directory!r}") from None
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"directory {str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_frames(
    sset: SyntheticSet,
    directory,
    *,
    prefix: str = "frame",
    overwrite: bool = False,
    extra_header: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write each frame to ``<directory>/<prefix>_<i>.fits`` (i = 1..N).

    Each file holds one float32 primary HDU in ADU (bias included) with
    ``EXPTIME``, ``GAIN`` (e-/ADU), ``RDNOISE`` (ADU), ``UUID``,
    ``OBJECT='SYNTHETIC'`` and the frame's flux factor and offset.  The UUID
    is derived from the pixel values, so rewriting a set gives identical
    files.  Files are written to a temporary name and renamed.

    Parameters
    ----------
    sset : SyntheticSet
        The set to write.
    directory : str or os.PathLike
        Output directory, created if missing.
    prefix : str, optional
        File-name prefix (no path separators).
    overwrite : bool, optional
        Replace existing files; otherwise an existing file is an error raised
        before anything is written.
    extra_header : mapping, optional
        Additional header cards (keyword -> value) for every frame, e.g.
        ``{'INSTRUME': 'MEGARA'}``.

    Returns
    -------
    list of pathlib.Path
        The files written, in frame order.

    Raises
    ------
    FileExistsError
        If a target file exists and ``overwrite`` is false.
    ValueError
        If ``prefix`` is empty or contains a path separator.
    """
    from astropy.io import fits

    _check_sset(sset)
    if not isinstance(prefix, str) or not prefix or "/" in prefix or os.sep in prefix:
        raise ValueError(f"prefix must be a non-empty file-name prefix, got {prefix!r}")
    out_dir = _prepare_directory(directory)
    paths = [out_dir / f"{prefix}_{i + 1}.fits" for i in range(sset.n_frames)]
    if not overwrite:
        for path in paths:
            if path.exists():
                raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    for i, path in enumerate(paths):
        data = np.asarray(sset.frames[i], dtype=np.float32)
        hdr = fits.Header()
        hdr["EXPTIME"] = (_EXPTIME, "[s] nominal exposure time")
        hdr["GAIN"] = (sset.gain, "[e-/ADU] gain")
        hdr["RDNOISE"] = (sset.rnoise, "[ADU] read noise")
        hdr["UUID"] = (_content_uuid(data), "derived from the pixel values")
        hdr["OBJECT"] = "SYNTHETIC"
        hdr["BUNIT"] = "ADU"
        hdr["ORIGIN"] = "megara_crplugin.synthetic"
        hdr["FRAMENUM"] = (i + 1, "frame number in the synthetic set")
        hdr["NFRAMES"] = (sset.n_frames, "frames in the synthetic set")
        hdr["SYNBIAS"] = (sset.bias, "[ADU] bias level included in the data")
        hdr["SYNFLUXF"] = (float(sset.flux_factors[i]), "flux factor of this frame")
        hdr["SYNXOFF"] = (float(sset.offsets[i, 0]), "[px] scene offset along x")
        hdr["SYNYOFF"] = (float(sset.offsets[i, 1]), "[px] scene offset along y")
        for key, value in (extra_header or {}).items():
            hdr[key] = value
        _atomic_write(fits.HDUList([fits.PrimaryHDU(data=data, header=hdr)]), path)
    _LOG.info("wrote %d synthetic frames to %s", len(paths), out_dir)
    return paths


def write_truth(sset: SyntheticSet, path, *, overwrite: bool = False) -> Path:
    """Write the ground truth of a set to one FITS file.

    Extensions: ``TRUTH`` (uint8 cube, 1 = pixel hit by a cosmic ray in that
    frame), ``SIGNAL`` (float32, noiseless signal in ADU, bias-free),
    ``CRFLUX`` (float32 cube, cosmic-ray flux in ADU) and ``EVENTS`` (one row
    per event: ``KIND``, ``FRAMES`` as 1-based frame numbers ``'1,3'``,
    ``X``/``Y`` of the brightest pixel in 1-based FITS pixel coordinates,
    ``NPIX``, ``PEAK`` in ADU and ``FAINT``).  The primary header records
    gain, read noise, bias, flux factors and offsets.

    Parameters
    ----------
    sset : SyntheticSet
        The set whose truth is written.
    path : str or os.PathLike
        Output file; its directory must exist.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        If the parent directory of ``path`` does not exist.
    """
    from astropy.io import fits

    _check_sset(sset)
    path = Path(os.fspath(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(f"directory {str(path.parent)!r} of path does not exist")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    primary = fits.PrimaryHDU()
    hdr = primary.header
    hdr["ORIGIN"] = "megara_crplugin.synthetic"
    hdr["NFRAMES"] = sset.n_frames
    hdr["GAIN"] = (sset.gain, "[e-/ADU]")
    hdr["RDNOISE"] = (sset.rnoise, "[ADU]")
    hdr["SYNBIAS"] = (sset.bias, "[ADU] bias level included in the frames")
    for i in range(sset.n_frames):
        hdr[f"FLUXF{i + 1}"] = float(sset.flux_factors[i])
        hdr[f"XOFF{i + 1}"] = (float(sset.offsets[i, 0]), "[px]")
        hdr[f"YOFF{i + 1}"] = (float(sset.offsets[i, 1]), "[px]")
    hdr["NEVENTS"] = (len(sset.events), "injected cosmic-ray events")
    hdr["NMULTI"] = (int(sset.multi_hit.sum()), "pixels hit in >= 2 frames")
    rows = _event_rows(sset.events)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="KIND", format="8A", array=rows["kind"]),
            fits.Column(name="FRAMES", format="32A", array=rows["frames"]),
            fits.Column(name="X", format="J", array=rows["x"]),
            fits.Column(name="Y", format="J", array=rows["y"]),
            fits.Column(name="NPIX", format="J", array=rows["npix"]),
            fits.Column(name="PEAK", format="E", unit="ADU", array=rows["peak"]),
            fits.Column(name="FAINT", format="L", array=rows["faint"]),
        ],
        name="EVENTS",
    )
    hdul = fits.HDUList(
        [
            primary,
            fits.ImageHDU(sset.truth.astype(np.uint8), name="TRUTH"),
            fits.ImageHDU(np.asarray(sset.signal, dtype=np.float32), name="SIGNAL"),
            fits.ImageHDU(np.asarray(sset.cr_flux, dtype=np.float32), name="CRFLUX"),
            table,
        ]
    )
    _atomic_write(hdul, path)
    return path


def _event_rows(events: Sequence[CREvent]) -> dict[str, np.ndarray]:
    n = len(events)
    rows = {
        "kind": np.array([ev.kind for ev in events], dtype="U8") if n else np.zeros(0, "U8"),
        "frames": np.array([",".join(str(f + 1) for f in ev.frames) for ev in events] or [""])[:n],
        "x": np.zeros(n, np.int32),
        "y": np.zeros(n, np.int32),
        "npix": np.array([ev.npix for ev in events], dtype=np.int32),
        "peak": np.zeros(n, np.float32),
        "faint": np.array([ev.faint for ev in events], dtype=bool),
    }
    for j, ev in enumerate(events):
        k = int(np.argmax(ev.amplitudes.max(axis=0)))
        rows["x"][j], rows["y"][j] = ev.xs[k] + 1, ev.ys[k] + 1
        rows["peak"][j] = ev.amplitudes.max()
    return rows
