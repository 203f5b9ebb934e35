"""Random and designed cosmic-ray events of :mod:`megara_crplugin.synthetic`.

Amplitudes in electrons (e-); footprints are pixel offsets ``(dy, dx)``;
arrays indexed ``[y, x]`` from 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .synthetic_scene import CREvent

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
_NEIGHBOURS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


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
