"""Self-test on the user's own frames: inject known cosmic rays, measure what is found.

Copies of the exposures receive cosmic-ray footprints (single pixels, blobs,
tracks) with amplitudes drawn log-uniformly between about 2 and 300 sigma of
the local noise; some events hit two exposures at the same pixels
(``'double'``), the rest one exposure (``'single'``).  The same configuration
(:func:`megara_crplugin.pipeline.compute_crmasks` with the same parameters) runs
on the injected copies and every event is scored:

* a ``'double'`` is detected when one of its pixels is in ``MEDIANCR`` (N <= 4
  exposures, where two hits raise the median); with N >= 5 two hits do not
  raise the median, so it is detected when one of its pixels is in the
  ``CRMASKi`` of *each* exposure hit;
* a ``'single'`` is detected when one of its pixels is in the ``CRMASKi`` of
  the exposure hit.

Events are placed away from the detections of an un-injected run (and from
each other), so a pre-existing cosmic ray cannot be mistaken for a recovered
injection.  Detections of the injected run that were not in the un-injected
run and touch no injection are counted as *unexplained*.

Units: ADU (bias included in the frames, as read); noise ``sigma =
sqrt(max(S, 0) / gain + rnoise**2)`` with ``S`` the median of the exposures
minus the bias at the pixel.  Mask polarity: ``True`` = cosmic ray.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .config import CRConfig
from .exceptions import CRPluginWarning
from .masks import dilate

__all__ = [
    "AMPLITUDE_BINS",
    "InjectedEvent",
    "SelfTestResult",
    "draw_events",
    "local_noise",
    "place_events",
    "recall_table",
    "run_selftest",
    "score_events",
]

log = logging.getLogger(__name__)

#: Default amplitude range of the injected events (units of the local sigma).
AMPLITUDE_RANGE = (2.0, 300.0)
#: Edges of the amplitude bins of the printed table and the figure (sigma).
AMPLITUDE_BINS = (2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 300.0)
#: Footprint shapes of the synthetic events, drawn with equal probability.
FOOTPRINTS = ("pixel", "blob", "track")
#: Largest fraction of the image pixels injected in one run (keeps the diagram realistic).
MAX_INJECTED_FRACTION = 0.003
#: Free margin (pixels) kept around each placed event and around prior detections.
MARGIN = 3


@dataclass(frozen=True, eq=False)
class InjectedEvent:
    """One injected event.

    Attributes
    ----------
    kind : str
        ``'single'`` (one exposure) or ``'double'`` (two exposures, same pixels).
    footprint : str
        ``'pixel'``, ``'blob'``, ``'track'`` or ``'real'`` (cut from a frame).
    frames : tuple of int
        0-based indices of the exposures hit.
    ys, xs : ndarray of int
        Array indices of the pixels hit (``[y, x]`` from 0).
    flux : ndarray, shape (len(frames), npix)
        Flux added to each pixel of each exposure hit (ADU).
    amplitude_sigma : float
        Peak flux of the weaker hit divided by the local sigma at the peak pixel.
    sigma : float
        Local single-exposure noise at the peak pixel (ADU).
    signal : float
        Local signal (median of the exposures minus bias) at the peak pixel (ADU).
    """

    kind: str
    footprint: str
    frames: tuple[int, ...]
    ys: np.ndarray
    xs: np.ndarray
    flux: np.ndarray
    amplitude_sigma: float
    sigma: float
    signal: float

    @property
    def peak(self) -> tuple[int, int]:
        """``(y, x)`` array indices of the brightest pixel of the weaker hit."""
        k = int(np.argmax(self.flux.min(axis=0)))
        return int(self.ys[k]), int(self.xs[k])


@dataclass(frozen=True)
class SelfTestResult:
    """Outcome of a self-test.

    Attributes
    ----------
    events : tuple of InjectedEvent
        Every injected event, in CSV order.
    detected : ndarray of bool
        ``True`` = event found (see the module docstring for the rule).
    targets : tuple of str
        Masks checked for each event (``'MEDIANCR'`` or ``'CRMASK1+CRMASK3'``...).
    npix_masked : ndarray of int
        Pixels of each footprint in the checked mask(s) (all of them for doubles
        scored on CRMASKi).
    rounds : ndarray of int
        Run (1-based) in which each event was injected.
    unexplained : dict of str to int
        Per mask name, connected groups of pixels masked in an injected run,
        absent from the un-injected run and touching no injection (summed
        over the runs).
    n_frames : int
        Number of exposures.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    """

    events: tuple[InjectedEvent, ...]
    detected: np.ndarray
    targets: tuple[str, ...]
    npix_masked: np.ndarray
    rounds: np.ndarray
    unexplained: dict[str, int] = field(default_factory=dict)
    n_frames: int = 0
    shape: tuple[int, int] = (0, 0)

    @property
    def n_unexplained(self) -> int:
        """Total unexplained detection groups over all masks and runs."""
        return int(sum(self.unexplained.values()))


def local_noise(frames, gain, rnoise, bias) -> tuple[np.ndarray, np.ndarray]:
    """Local signal and single-exposure noise of a stack of exposures.

    Parameters
    ----------
    frames : sequence of ndarray (ny, nx)
        Exposures in ADU (bias included).
    gain : float or ndarray
        Gain (e-/ADU).
    rnoise, bias : float or ndarray
        Read noise and bias (ADU).

    Returns
    -------
    signal, sigma : ndarray (ny, nx)
        Median of the exposures minus the bias, and ``sqrt(max(signal, 0) /
        gain + rnoise**2)`` (ADU).
    """
    signal = np.median(np.asarray(frames, dtype=np.float32), axis=0) - np.asarray(bias)
    var = np.maximum(signal, 0.0) / np.asarray(gain) + np.asarray(rnoise) ** 2
    return signal.astype(np.float32), np.sqrt(var).astype(np.float32)


def _footprint(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dy, dx, frac)`` of one footprint, peak fraction 1, centred on its box."""
    from .synthetic_events import _blob_footprints, _track_footprints

    if kind == "pixel":
        dy, dx, frac = np.zeros(1, int), np.zeros(1, int), np.ones(1)
    elif kind == "blob":
        _, dy, dx, frac = _blob_footprints(rng, np.ones(1))
    else:
        _, dy, dx, frac = _track_footprints(rng, np.ones(1), np.zeros(1))
    dy = dy - (dy.min() + dy.max()) // 2
    dx = dx - (dx.min() + dx.max()) // 2
    return dy.astype(int), dx.astype(int), np.asarray(frac, float) / float(np.max(frac))


def draw_events(
    rng: np.random.Generator,
    n_events: int,
    n_double: int,
    n_frames: int,
    *,
    amplitude_range: tuple[float, float] = AMPLITUDE_RANGE,
    footprints: Sequence[str] = FOOTPRINTS,
) -> list[dict[str, Any]]:
    """Draw footprints, exposures and amplitudes (not yet placed).

    Footprints are drawn with equal probability from ``footprints`` (a subset
    of :data:`FOOTPRINTS`); amplitudes log-uniformly in ``amplitude_range``.

    Returns
    -------
    list of dict
        Keys ``kind``, ``footprint``, ``frames`` (0-based), ``dy``, ``dx``,
        ``frac`` (peak 1), ``amplitude_sigma`` (weaker hit) and ``factors``
        (multiplier of each hit: 1 for the weaker, 1-3 for the other).
    """
    lo, hi = amplitude_range
    out = []
    for j in range(n_events):
        kind = "double" if j < n_double else "single"
        shape = footprints[int(rng.integers(len(footprints)))]
        dy, dx, frac = _footprint(rng, shape)
        hits = 2 if kind == "double" else 1
        frames = tuple(int(f) for f in np.sort(rng.permutation(n_frames)[:hits]))
        factors = np.ones(hits)
        if hits == 2:
            factors[int(rng.integers(2))] = float(np.exp(rng.uniform(0.0, np.log(3.0))))
        amp = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        out.append(
            dict(kind=kind, footprint=shape, frames=frames, dy=dy, dx=dx, frac=frac)
            | dict(amplitude_sigma=amp, factors=factors)
        )
    order = rng.permutation(len(out))  # doubles and singles mixed over the runs
    return [out[k] for k in order]


def place_events(
    rng: np.random.Generator,
    drawn: Sequence[Mapping[str, Any]],
    occupied: np.ndarray,
    signal: np.ndarray,
    sigma: np.ndarray,
    *,
    max_pixels: int,
    tries: int = 40,
) -> tuple[list[InjectedEvent], list[Mapping[str, Any]]]:
    """Place drawn events at free random positions (one run's worth).

    Parameters
    ----------
    drawn : sequence of dict
        Output of :func:`draw_events` (or real footprints with ``flux_adu``
        instead of ``amplitude_sigma``: then the amplitude is kept in ADU).
    occupied : ndarray of bool (ny, nx)
        Pixels not to touch (prior detections); updated in place.
    signal, sigma : ndarray (ny, nx)
        Local signal and noise (ADU), from :func:`local_noise`.
    max_pixels : int
        Most footprint pixels placed in this run.

    Returns
    -------
    placed : list of InjectedEvent
    left : list of dict
        Events that did not fit (for the next run).
    """
    ny, nx = occupied.shape
    placed: list[InjectedEvent] = []
    left: list[Mapping[str, Any]] = []
    used = 0
    for d in drawn:
        dy, dx = d["dy"], d["dx"]
        if used + dy.size > max_pixels:
            left.append(d)
            continue
        ylo, yhi = -dy.min() + MARGIN, ny - dy.max() - MARGIN
        xlo, xhi = -dx.min() + MARGIN, nx - dx.max() - MARGIN
        spot = None
        for _ in range(tries if ylo < yhi and xlo < xhi else 0):
            cy, cx = int(rng.integers(ylo, yhi)), int(rng.integers(xlo, xhi))
            if not occupied[cy + dy, cx + dx].any():
                spot = cy, cx
                break
        if spot is None:
            left.append(d)
            continue
        placed.append(_make_event(d, spot[0] + dy, spot[1] + dx, signal, sigma))
        block = np.zeros_like(occupied)
        block[spot[0] + dy, spot[1] + dx] = True
        occupied |= dilate(block, MARGIN)
        used += dy.size
    return placed, left


def _make_event(d, ys, xs, signal, sigma) -> InjectedEvent:
    k = int(np.argmax(d["frac"]))
    s, sig = float(signal[ys[k], xs[k]]), float(sigma[ys[k], xs[k]])
    if "flux_adu" in d:  # real footprint: flux kept in ADU, amplitude measured
        flux = np.asarray(d["flux_adu"], float)
        flux = np.broadcast_to(flux, (len(d["frames"]), flux.shape[-1])).copy()
        amp = float(flux.min(axis=0).max()) / sig
    else:
        amp = float(d["amplitude_sigma"])
        flux = np.outer(np.asarray(d["factors"], float), d["frac"]) * amp * sig
    return InjectedEvent(d["kind"], d["footprint"], tuple(d["frames"]), ys, xs, flux, amp, sig, s)


def inject(frames, events: Sequence[InjectedEvent]) -> list[np.ndarray]:
    """Copies of ``frames`` (float32, ADU) with the events' flux added."""
    out = [np.array(f, dtype=np.float32, copy=True) for f in frames]
    for ev in events:
        for k, i in enumerate(ev.frames):
            np.add.at(out[i], (ev.ys, ev.xs), ev.flux[k].astype(np.float32))
    return out


def score_events(events, masks: Mapping[str, np.ndarray], n_frames: int):
    """Detection flag, checked target and masked pixels of every event.

    Returns
    -------
    detected : ndarray of bool
    targets : list of str
    npix_masked : ndarray of int
    """
    detected, targets, npix = [], [], []
    for ev in events:
        if ev.kind == "double" and n_frames <= 4:
            names = ["MEDIANCR"]
        else:
            names = [f"CRMASK{i + 1}" for i in ev.frames]
        hits = [np.asarray(masks[name])[ev.ys, ev.xs].astype(bool) for name in names]
        both = np.logical_and.reduce(hits)
        detected.append(all(h.any() for h in hits))
        targets.append("+".join(names))
        npix.append(int(both.sum()))
    return np.array(detected, bool), targets, np.array(npix, int)


def _unexplained(masks, base_masks, events, dilation: int) -> dict[str, int]:
    """Groups masked now, not in the base run, touching no injected pixel."""
    touched = np.zeros(next(iter(masks.values())).shape, dtype=bool)
    for ev in events:
        touched[ev.ys, ev.xs] = True
    touched = dilate(touched, dilation + 1)
    out = {}
    for name, mask in masks.items():
        if name == "MEDIANCR" or name.startswith("CRMASK"):
            new = np.asarray(mask, bool) & ~np.asarray(base_masks[name], bool)
            labels, n = ndimage.label(new, structure=np.ones((3, 3)))
            if n:
                hit = np.unique(labels[touched & (labels > 0)])
                n -= int(np.count_nonzero(hit))
            out[name] = int(n)
    return out


def run_selftest(
    frames: Sequence[np.ndarray],
    config: CRConfig,
    *,
    n_events: int = 300,
    n_double: int | None = None,
    seed: int = 0,
    amplitude_range: tuple[float, float] = AMPLITUDE_RANGE,
    footprints: Sequence[str] = FOOTPRINTS,
    drawn: Sequence[Mapping[str, Any]] | None = None,
    base_masks: Mapping[str, np.ndarray] | None = None,
    report: Callable[[str], None] | None = None,
) -> SelfTestResult:
    """Inject events into copies of ``frames``, rerun the masks, score every event.

    Parameters
    ----------
    frames : sequence of ndarray (ny, nx)
        The exposures in ADU, as given to ``compute_crmasks`` (never modified).
    config : CRConfig
        The validated configuration; the self-test runs it non-interactively,
        without reports, with ``mm_seed`` fixed (``seed`` when it was None).
    n_events : int, optional
        Number of injected events (>= 1).
    n_double : int, optional
        How many of them hit two exposures (default: half).
    seed : int, optional
        Seed of the injections.
    amplitude_range : (float, float), optional
        Log-uniform amplitude range of the weaker hit (local sigma).
    footprints : sequence of str, optional
        Footprint shapes to draw from (subset of :data:`FOOTPRINTS`).
    drawn : sequence of dict, optional
        Pre-drawn events (see :func:`draw_events`; real footprints with
        ``flux_adu``) instead of the synthetic ones.
    base_masks : mapping, optional
        Masks of the un-injected run when already computed.
    report : callable, optional
        Receives one progress line per run.

    Returns
    -------
    SelfTestResult
    """
    from .pipeline import compute_crmasks

    n = len(frames)
    rng = np.random.default_rng(seed)
    cfg = config.replace(interactive=False, verify_cr=False, maxplots=0)
    if cfg.mm_seed is None:
        cfg = cfg.replace(mm_seed=int(seed))
    say = report or log.info
    if drawn is None:
        n_double = n_events // 2 if n_double is None else n_double
        drawn = draw_events(
            rng, n_events, n_double, n, amplitude_range=amplitude_range, footprints=footprints
        )
    if base_masks is None:
        say("self-test: un-injected run")
        base_masks = compute_crmasks(list(frames), cfg).masks
    signal, sigma = local_noise(frames, cfg.gain, cfg.rnoise, cfg.bias)
    prior = np.logical_or.reduce([np.asarray(m, bool) for m in base_masks.values()])
    prior = dilate(prior, MARGIN)
    shape = prior.shape
    max_pixels = max(1, int(MAX_INJECTED_FRACTION * prior.size))
    events, detected, targets, npix, rounds = [], [], [], [], []
    unexplained: dict[str, int] = {}
    left = list(drawn)
    while left:
        placed, left = place_events(rng, left, prior.copy(), signal, sigma, max_pixels=max_pixels)
        if not placed:
            raise ValueError(
                f"self-test: {len(left)} events do not fit in frames of shape {shape} "
                "away from the existing detections; ask for fewer events"
            )
        say(f"self-test: run {max(rounds, default=0) + 1} with {len(placed)} injected events")
        with warnings.catch_warnings():  # the un-injected run already said it
            warnings.simplefilter("ignore", CRPluginWarning)
            masks = compute_crmasks(inject(frames, placed), cfg).masks
        det, tgt, npx = score_events(placed, masks, n)
        for name, count in _unexplained(masks, base_masks, placed, cfg.dilation).items():
            unexplained[name] = unexplained.get(name, 0) + count
        rounds += [max(rounds, default=0) + 1] * len(placed)
        events += placed
        detected.append(det)
        targets += tgt
        npix.append(npx)
    return SelfTestResult(
        events=tuple(events),
        detected=np.concatenate(detected),
        targets=tuple(targets),
        npix_masked=np.concatenate(npix),
        rounds=np.array(rounds, int),
        unexplained=unexplained,
        n_frames=n,
        shape=tuple(shape),
    )


def recall_table(
    amplitude: np.ndarray, detected: np.ndarray, bins: Sequence[float] = AMPLITUDE_BINS
) -> list[tuple[float, float, int, int]]:
    """Recall per amplitude bin: rows ``(lo, hi, n_events, n_detected)``.

    Bins are ``[lo, hi)`` except the last, which includes ``hi``.
    """
    amplitude, detected = np.asarray(amplitude, float), np.asarray(detected, bool)
    rows = []
    for k, (lo, hi) in enumerate(zip(bins[:-1], bins[1:], strict=True)):
        last = k == len(bins) - 2
        sel = (amplitude >= lo) & ((amplitude <= hi) if last else (amplitude < hi))
        rows.append((float(lo), float(hi), int(sel.sum()), int(detected[sel].sum())))
    return rows
