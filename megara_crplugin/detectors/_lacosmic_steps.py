"""L.A.Cosmic iterations from astroscrappy's own primitives, the later ones on windows only.

:func:`astroscrappy.detect_cosmics` repeats ``niter`` full-frame detection
steps, and the two-pass adapter calls it twice (run 1 "peaks", run 2
"tails"), i.e. ``2 * niter`` full-frame steps per image.  Two facts of the
algorithm make most of that work redundant:

* the first step of both runs sees the same image: the filtered images
  (Laplacian significance ``sp`` and fine-structure image ``f``) are computed
  once and only the thresholds (``sigclip``, ``sigfrac``, ``objlim``) differ;
* step ``k > 1`` sees the image of step ``k - 1`` with the mask pixels
  replaced by the 5x5 masked mean: its result can differ from step ``k - 1``
  only within :func:`step_radius` pixels of a pixel whose value changed.
  Elsewhere the detections of step ``k - 1`` are kept as they are, and the
  step runs only on windows around the changed pixels.

Every operation is the one :func:`astroscrappy.detect_cosmics` (1.3) performs,
in the same order and precision (astroscrappy's public filters for the
Laplacian and the non-separable medians; its separable medians and its
convolution re-done, same values, faster, in :mod:`._lafilters`; numpy for the
arithmetic; the ``meanmask`` cleaning re-done here in float32 in
astroscrappy's summation order), so masks and cleaned images are
bit-identical to ``detect_cosmics`` on the same input
(``tests/test_lacosmic_steps.py``).  Only ``cleantype: meanmask`` without a
background image and with a kernel that is given or ``gauss``/``gaussx``/
``gaussy`` is handled here (:func:`supported`); the adapter calls astroscrappy
for the other cases.

Units: electrons inside (the image times the gain, as astroscrappy); the
cleaned image comes back in the unit of the input.  Mask polarity: True =
cosmic ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .._threads import native_threads
from ._lafilters import convolve, sepmedfilt
from ._windows import EIGHT, _run_windows, _tile_any, _tiles_to_pixels, tile_windows

__all__ = ["Settings", "lacosmic_runs", "step_radius", "supported"]

#: Tile size (pixels) of the windows of the later steps.
TILE = 8
#: Above this window/frame area ratio a later step runs on the full frame.
MAX_FRACTION = 0.6
#: Rows per block of the Laplacian (its 2x subsampled grid holds 8 bytes per pixel twice).
LAPLACE_ROWS = 128
#: Rows per strip of the full-frame first step (plus ``radius + TILE`` rows of context on
#: each side): the filters' temporaries of a strip instead of a frame's.
STRIP_ROWS = 512


def step_radius(*, sepmed: bool, fsmode: str, psfsize: int) -> int:
    """Dependency radius (pixels) of one detection step on its input images.

    Noise median (3 px separable 7x7 / 2 px 5x5), Laplacian (1), median of the
    significance image (3 / 2), fine-structure image (``psfsize // 2`` plus the
    noise for ``convolve``, 2 / 1 for ``median``) and its median (4 / 3), and
    the two 3x3 growths (2).
    """
    noise = 3 if sepmed else 2
    smed = 3 if sepmed else 2
    fine = psfsize // 2 + noise if fsmode == "convolve" else (2 if sepmed else 1)
    fmed = 4 if sepmed else 3
    return max(max(1, noise) + smed, fine + fmed) + 2


@dataclass(frozen=True)
class Settings:
    """Thresholds-free settings of one image's L.A.Cosmic runs (astroscrappy's meaning).

    Attributes
    ----------
    gain : float
        e-/ADU.
    readnoise : float
        Read noise (e-).
    satlevel : float
        Saturation level (e-).
    niter : int
        Iterations per run.
    sepmed : bool
        Separable median filters.
    fsmode : {'median', 'convolve'}
        Fine-structure mode.
    psfk : ndarray of float32 or None
        Convolution kernel as astroscrappy uses it (already reversed); needed for ``convolve``.
    """

    gain: float
    readnoise: float
    satlevel: float
    niter: int
    sepmed: bool
    fsmode: str
    psfk: np.ndarray | None


def supported(*, cleantype: str, background, psfmodel: str, psfk) -> bool:
    """Whether :func:`lacosmic_runs` reproduces astroscrappy for these settings."""
    return (
        cleantype == "meanmask"
        and background is None
        and (psfk is not None or psfmodel != "moffat")
    )


def astroscrappy_kernel(psfmodel: str, psffwhm: float, psfsize: int) -> np.ndarray:
    """The kernel :func:`astroscrappy.detect_cosmics` builds (reversed) when none is given."""
    from astroscrappy import astroscrappy as core

    build = {"gauss": core.gausskernel, "gaussx": core.gaussxkernel, "gaussy": core.gaussykernel}
    psfk = build[psfmodel](psffwhm, psfsize)
    psfk[:, :] = psfk[::-1, ::-1]
    return psfk


def _f32(value: float) -> float:
    """``value`` rounded as astroscrappy's ``float`` arguments are (C float)."""
    return float(np.float32(value))


def _laplacian(cleanarr: np.ndarray) -> np.ndarray:
    """The ``L+`` image of astroscrappy: rebinned positive Laplacian of the 2x subsampled image.

    Computed by blocks of :data:`LAPLACE_ROWS` rows, each with one row of
    context on either side (the value of a row depends on its two neighbours
    only): the same values without the two full-frame temporaries of 4 times
    the image size.
    """
    from astroscrappy.utils import laplaceconvolve, rebin, subsample

    ny = cleanarr.shape[0]
    s = np.empty(cleanarr.shape, dtype=np.float32)
    for y0 in range(0, ny, LAPLACE_ROWS):
        y1 = min(ny, y0 + LAPLACE_ROWS)
        a0, a1 = max(0, y0 - 1), min(ny, y1 + 1)
        conved = laplaceconvolve(subsample(np.ascontiguousarray(cleanarr[a0:a1])))
        conved[conved < 0] = 0.0
        s[y0:y1] = rebin(conved)[y0 - a0 : y1 - a0]
    return s


def _filtered(cleanarr, clean_var, settings: Settings):
    """``sp`` (Laplacian significance minus its median) and ``sp / f``, as astroscrappy."""
    from astroscrappy.utils import medfilt3, medfilt5, medfilt7

    sepmed = settings.sepmed
    s = _laplacian(cleanarr)
    m5 = sepmedfilt(clean_var, 7) if sepmed else medfilt5(clean_var)
    m5[m5 < 0.00001] = 0.00001
    noise = np.sqrt(m5, out=m5)  # in place where astroscrappy makes a new array: same values
    s /= 2.0 * noise
    sp = sepmedfilt(s, 7) if sepmed else medfilt5(s)
    np.subtract(s, sp, out=sp)
    del s
    if settings.fsmode == "convolve":
        work = cleanarr / noise
        work /= noise
        f = convolve(work, settings.psfk)
        np.divide(1.0, noise, out=work)
        work /= noise
        f /= convolve(work, settings.psfk)
        del work
    else:
        f = sepmedfilt(cleanarr, 5) if sepmed else medfilt3(cleanarr)
    m7 = sepmedfilt(f, 9) if sepmed else medfilt7(f)
    f -= m7
    del m7
    f /= noise
    del noise
    f[f < 0.01] = 0.01
    return sp, np.divide(sp, f, out=f)


def _detections(sp, ratio, goodpix, thresholds) -> np.ndarray:
    """Cosmic-ray pixels of one step for one ``(sigclip, sigfrac, objlim)``, as astroscrappy."""
    from astroscrappy.utils import dilate3

    sigclip, sigfrac, objlim = thresholds
    sigcliplow = float(np.float32(sigfrac) * np.float32(sigclip))
    cosmics = np.logical_and(sp > sigclip, goodpix)
    cosmics = np.logical_and(cosmics, ratio > objlim)
    cosmics = dilate3(cosmics)
    cosmics = np.logical_and(cosmics, goodpix)
    cosmics = np.logical_and(sp > sigclip, cosmics)
    cosmics = dilate3(cosmics)
    cosmics = np.logical_and(cosmics, goodpix)
    return np.logical_and(sp > sigcliplow, cosmics)


def _step(cleanarr, clean_var, mask, settings, thresholds_list) -> list[np.ndarray]:
    sp, ratio = _filtered(cleanarr, clean_var, settings)
    goodpix = np.logical_not(mask)
    return [_detections(sp, ratio, goodpix, t) for t in thresholds_list]


def _step_strips(cleanarr, clean_var, mask, settings, thresholds_list, radius: int):
    """:func:`_step` on the whole frame, a strip of :data:`STRIP_ROWS` rows at a time.

    Each strip is computed with ``radius + TILE`` rows of context above and
    below (the step's result depends on its inputs within ``radius`` pixels;
    the image's own edges are the strips' edges there): the same values as one
    full-frame call, with a few MB of filter temporaries instead of about
    eight full frames per detector call.  Strips run in
    :func:`~megara_crplugin._threads.native_threads` threads (astroscrappy's
    filters ran in as many OpenMP threads).
    """
    ny = cleanarr.shape[0]
    if ny <= 2 * STRIP_ROWS:
        return _step(cleanarr, clean_var, mask, settings, thresholds_list)
    halo = radius + TILE
    outs = [np.empty(cleanarr.shape, dtype=bool) for _ in thresholds_list]

    def strip(y0: int) -> None:
        y1 = min(ny, y0 + STRIP_ROWS)
        a0, a1 = max(0, y0 - halo), min(ny, y1 + halo)
        planes = [np.ascontiguousarray(p[a0:a1]) for p in (cleanarr, clean_var, mask)]
        for out, res in zip(outs, _step(*planes, settings, thresholds_list), strict=True):
            out[y0:y1] = res[y0 - a0 : y1 - a0]

    starts = range(0, ny, STRIP_ROWS)
    threads = min(native_threads(), len(starts))
    if threads > 1:  # numpy and astroscrappy release the GIL; strips write disjoint rows
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(strip, starts))
    else:
        for y0 in starts:
            strip(y0)
    return outs


def _clean_positions(crmask, bad):
    """The ``crmask`` pixels astroscrappy's ``clean_meanmask`` replaces, and their 5x5 neighbours.

    Returns ``ys, xs`` (the mask pixels off the 2-px border), for each of the
    25 offsets in astroscrappy's order (rows, then columns) whether that
    neighbour is usable (neither a cosmic ray nor masked), and the number of
    usable neighbours: what the cleaning of both the image and its variance
    share.
    """
    ny, nx = crmask.shape
    ys, xs = np.nonzero(crmask)
    inner = (ys >= 2) & (ys < ny - 2) & (xs >= 2) & (xs < nx - 2)
    ys, xs = ys[inner], xs[inner]
    usable = []
    count = np.zeros(ys.size, dtype=np.int64)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            good = ~bad[ys + dy, xs + dx]
            usable.append((dy, dx, good))
            count += good
    return ys, xs, usable, count


def _clean_values(image, positions, fallback: float):
    """Redo astroscrappy's ``clean_meanmask`` at the pixels of :func:`_clean_positions`.

    The mean of the 5x5 pixels that are neither cosmic rays nor masked, summed
    in float32 in astroscrappy's order (rows, then columns); ``fallback`` when
    there is none.  Those pixels are never modified: ``image`` holds their
    original values (only the returned values are written back, by the caller).
    """
    ys, xs, usable, count = positions
    total = np.zeros(ys.size, dtype=np.float32)
    zero = np.float32(0.0)
    for dy, dx, good in usable:
        total += np.where(good, image[ys + dy, xs + dx], zero)
    values = np.full(ys.size, np.float32(fallback), dtype=np.float32)
    some = count > 0
    values[some] = total[some] / count[some].astype(np.float32)
    return values


class _Run:
    """State of one run (one set of thresholds) over its iterations."""

    def __init__(self, base, thresholds, cosmics):
        self.base = base
        self.thresholds = thresholds
        self.cosmics = cosmics
        self.crmask = cosmics.copy()
        self.cleanarr = base.cleanarr0()
        self.clean_var = self.cleanarr + base.rn2

    def clean(self) -> np.ndarray:
        """Clean every crmask pixel; return the pixels whose values changed."""
        b = self.base
        positions = _clean_positions(self.crmask, self.crmask | b.bad)
        ys, xs = positions[:2]
        changed = np.zeros(self.crmask.shape, dtype=bool)
        for current, level in ((self.cleanarr, b.level), (self.clean_var, b.var_level)):
            values = _clean_values(current, positions, level)
            changed[ys, xs] |= current[ys, xs] != values
            current[ys, xs] = values
        return changed

    def later_step(self, changed: np.ndarray) -> None:
        """Redo the detection step where the input changed (``step_radius`` around it)."""
        b = self.base
        shape = changed.shape
        grow = max(1, -(-b.radius // TILE))
        zone = ndimage.binary_dilation(_tile_any(changed, TILE), structure=EIGHT, iterations=grow)
        region = ndimage.binary_dilation(zone, structure=EIGHT, iterations=grow)
        labels, boxes, windows, area = tile_windows(region, TILE, shape)
        planes = (self.cleanarr, self.clean_var, b.mask)
        if area > MAX_FRACTION * shape[0] * shape[1]:
            self.cosmics = _step_strips(*planes, b.settings, [self.thresholds], b.radius)[0]
            return

        def run(*arrays):
            arrays = [np.ascontiguousarray(a) for a in arrays]
            return (_step(*arrays, b.settings, [self.thresholds])[0],)

        results = _run_windows(run, planes, windows, shape)
        for index, (box, window, (cosmics_w,)) in enumerate(
            zip(boxes, windows, results, strict=True), start=1
        ):
            take = _tiles_to_pixels(zone[box] & (labels[box] == index), TILE, cosmics_w.shape)
            self.cosmics[window][take] = cosmics_w[take]


def _fallback_levels(cleanarr, bad, rn2: float) -> tuple[float, float]:
    """The cleaning fallbacks of astroscrappy: medians of the good pixels (image, variance).

    astroscrappy's ``median`` (quickselect) returns the order statistic
    ``(n - 1) // 2``, which :func:`numpy.partition` finds too.  The variance
    image is ``float32(image + rn2)``, a non-decreasing function of each value,
    so its order statistic is that function of the image's: the same values
    without a second selection over the frame.
    """
    good = cleanarr[~bad] if bad.any() else cleanarr.ravel()
    k = (good.size - 1) // 2
    level = np.partition(good, k)[k]
    return float(level), float(level + np.float32(rn2))


class _Base:
    """What both runs share: the electron images, the saturation mask, the fallback levels."""

    def __init__(self, image: np.ndarray, settings: Settings):
        from astroscrappy import update_mask

        self.settings = settings
        self.radius = step_radius(
            sepmed=settings.sepmed,
            fsmode=settings.fsmode,
            psfsize=0 if settings.psfk is None else settings.psfk.shape[0],
        )
        ny, nx = image.shape
        cleanarr = np.empty((ny, nx), dtype=np.float32, order="C")
        cleanarr[:, :] = image[:, :] * _f32(settings.gain)
        readnoise = np.float32(settings.readnoise)
        self.rn2 = float(readnoise * readnoise)
        mask = np.zeros((ny, nx), dtype=np.uint8, order="C")
        satlevel = _f32(settings.satlevel)
        if np.any(cleanarr >= satlevel):  # else astroscrappy's saturation mask stays empty
            update_mask(cleanarr, mask, satlevel, bool(settings.sepmed))
        self.bad = mask.view(bool)  # 0 / 1
        self.level, self.var_level = _fallback_levels(cleanarr, self.bad, self.rn2)
        self.image, self.mask = image, mask

    def cleanarr0(self) -> np.ndarray:
        """Initial image of astroscrappy (e-): a new array, the input times the gain."""
        cleanarr = np.empty(self.image.shape, dtype=np.float32, order="C")
        cleanarr[:, :] = self.image[:, :] * _f32(self.settings.gain)
        return cleanarr


def lacosmic_runs(
    image: np.ndarray,
    settings: Settings,
    runs: Sequence[tuple[float, float, float]],
    *,
    values_only: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One ``detect_cosmics`` result per ``(sigclip, sigfrac, objlim)`` of ``runs``.

    Parameters
    ----------
    image : ndarray of float32, shape (ny, nx)
        The input as astroscrappy receives it (ADU, finite).
    settings : Settings
        Shared settings (gain in e-/ADU, read noise and saturation in e-).
    runs : sequence of (sigclip, sigfrac, objlim)
        Thresholds of each run.
    values_only : bool, optional
        Return, instead of each cleaned image, its values at the run's mask
        pixels (in the order of ``np.nonzero(mask)``): one frame less held per
        finished run.

    Returns
    -------
    list of (mask, cleaned)
        For each run: bool mask (True = cosmic ray) and float32 cleaned image
        (ADU), bit-identical to ``astroscrappy.detect_cosmics`` with these settings
        and ``cleantype='meanmask'`` (or its values at the mask, ``values_only``).
    """
    if settings.fsmode == "convolve" and settings.psfk is None:
        raise ValueError("lacosmic_runs: fsmode 'convolve' needs the kernel psfk")
    base = _Base(np.asarray(image, dtype=np.float32), settings)
    thresholds = [tuple(_f32(v) for v in t) for t in runs]
    cleanarr = base.cleanarr0()
    first = _step_strips(
        cleanarr, cleanarr + base.rn2, base.mask, settings, thresholds, base.radius
    )
    del cleanarr
    out = []
    for t in thresholds:
        run = _Run(base, t, first.pop(0))
        numcr = int(run.cosmics.sum())
        for _ in range(1, int(settings.niter)):
            if numcr == 0:
                break
            run.later_step(run.clean())
            numcr = int(run.cosmics.sum())
            run.crmask |= run.cosmics
        if numcr:
            run.clean()
        cleaned = run.cleanarr[run.crmask] if values_only else run.cleanarr
        cleaned /= _f32(settings.gain)
        out.append((run.crmask, cleaned))
        del run
    return out
