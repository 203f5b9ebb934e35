"""Combination of the exposures with the cosmic-ray masks.

Methods: ``mean``, ``median``, ``min``, ``mediancr``, ``meancrt``, ``meancr``,
``meancr2``.  Arrays in, arrays out; the masks come as a
:class:`~megara_crplugin.crmasks_type.CRMasks` (from
:func:`~megara_crplugin.crmasks_file.read_crmasks` or
:attr:`~megara_crplugin.result.CRMaskResult.crmasks`), the only type accepted.

VARIANCE and MAP (documented in ``docs/combination.md``):

* VARIANCE is numina's convention: the sample variance (``ddof=1``) of the
  values that entered each pixel's combination -- the scatter of one exposure,
  not the variance of the combined value.  It is 0 where a single value was
  used (a substituted minimum / AUXCLEAN value, or one unmasked exposure).
* MAP is the number of exposures whose values entered each pixel: N for
  plain combinations, the number of unmasked exposures for ``meancr``, and 1
  wherever a single value was substituted (including ``meancr`` pixels masked
  in every exposure, which the reference left at 0: defect 23).

Units: ADU, bias-subtracted, divided by the flux factors when they are applied.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._blockstats import masked_mean, sample_variance
from .crmasks_type import CRMasks
from .guards import check_bias, check_finite_result
from .stacking import build_stack, low_mean

__all__ = [
    "CR_METHODS",
    "METHODS",
    "Combination",
    "combine",
    "combine_all",
    "combine_stack",
    "iter_combinations",
    "iter_stack_combinations",
    "meancr_image",
]

#: Every combination method, in file order: the one list (``config.COMBINATIONS``, the
#: ``--combination`` choices and the science recipes' methods are derived from it;
#: ``docs/combination.md`` is checked against it by ``tests/test_method_lists.py``).
METHODS = ("mean", "median", "min", "mediancr", "meancrt", "meancr", "meancr2")
#: The methods that need the cosmic-ray masks (all those after ``min``).
CR_METHODS = METHODS[METHODS.index("min") + 1 :]


@dataclass
class Combination:
    """A combined image with its VARIANCE and MAP (see module docstring)."""

    data: np.ndarray
    variance: np.ndarray
    map: np.ndarray
    method: str


class _Shared:
    """Per-pixel statistics of one stack, computed once for all the methods."""

    def __init__(self, stack: np.ndarray, cr_coincidences: int):
        self.stack = stack
        self.coinc = cr_coincidences
        # (masks, use_auxmedian, meancr): the masks object is held and compared
        # with ``is``, never by id() (an id is reused once its object is freed)
        self._meancr: list[tuple[object, bool, Combination]] = []

    def meancr(self, masks, use_auxmedian: bool, repl: np.ndarray) -> Combination:
        """``meancr`` of these masks, computed once (``meancr2`` starts from it)."""
        for held, aux, result in self._meancr:
            if held is masks and aux == use_auxmedian:
                return result
        n = self.stack.shape[0]
        result = _meancr(self.stack, [masks.masks[f"CRMASK{i + 1}"] for i in range(n)], repl)
        self._meancr.append((masks, use_auxmedian, result))
        return result

    @cached_property
    def mean(self) -> np.ndarray:
        return self.stack.mean(axis=0, dtype=np.float64).astype(self.stack.dtype)

    @cached_property
    def median(self) -> np.ndarray:
        return np.median(self.stack, axis=0).astype(self.stack.dtype)

    @cached_property
    def minimum(self) -> np.ndarray:
        return self.stack.min(axis=0)

    @cached_property
    def min2d(self) -> np.ndarray:
        n = self.stack.shape[0]
        return low_mean(self.stack, self.coinc) if n - self.coinc >= 1 else self.minimum

    @cached_property
    def var(self) -> np.ndarray:
        return sample_variance(self.stack)

    @classmethod
    def from_statistics(cls, stats, cr_coincidences: int) -> _Shared:
        """Start from the statistics of the mask computation (same stack, same values).

        ``stats`` is a :class:`~megara_crplugin.result.StackStatistics` of the
        stack with the same ``cr_coincidences``: its ``mean2d``, ``median2d`` and
        ``min2d`` are computed exactly as :attr:`mean`, :attr:`median` and
        :attr:`min2d` are here, so they are reused instead of held twice.
        """
        shared = cls(stats.stack, cr_coincidences)
        shared.__dict__["mean"] = stats.mean2d
        shared.__dict__["median"] = stats.median2d
        shared.__dict__["min2d"] = stats.min2d
        if stats.n_frames - cr_coincidences == 1:  # min2d is then the minimum itself
            shared.__dict__["minimum"] = stats.min2d
        return shared


def _check_masks(masks) -> None:
    if masks is not None and not isinstance(masks, CRMasks):
        raise TypeError(
            "masks: expected a CRMasks (read_crmasks(...) or CRMaskResult.crmasks), "
            f"got {type(masks).__name__}"
        )


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(
            f"combination method: expected one of {', '.join(METHODS)}, got {method!r}"
        )


def _local_median(image: np.ndarray, rows) -> np.ndarray:
    """Replace each listed pixel by the median of its box, excluding the centre (table RPMEDIAN)."""
    out = image
    ny, nx = image.shape
    for x, y, xw, yw in rows:
        i, j = y - 1, x - 1
        y0, y1 = max(0, i - yw // 2), min(ny, i + yw // 2 + 1)
        x0, x1 = max(0, j - xw // 2), min(nx, j + xw // 2 + 1)
        box = out[y0:y1, x0:x1].copy()
        keep = np.ones(box.shape, dtype=bool)
        keep[i - y0, j - x0] = False
        if keep.any():
            out[i, j] = np.median(box[keep])
    return out


def combine_stack(
    stack: np.ndarray,
    method: str,
    *,
    masks=None,
    use_auxmedian: bool = False,
    cr_coincidences: int = 2,
    stats=None,
) -> Combination:
    """Combine a prepared stack (bias-subtracted, rescaled) with the masks.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Exposures in ADU.
    method : str
        One of :data:`METHODS`.
    masks : CRMasks, optional
        Needed by the CR methods: ``masks.masks`` (bool arrays, True =
        cosmic ray), ``masks.auxclean``, ``masks.rpmedian``.
    use_auxmedian : bool, optional
        Replace by AUXCLEAN instead of min2d.
    cr_coincidences : int, optional
        Highest values excluded from min2d (as in the mask computation).

    Returns
    -------
    Combination
    """
    _check_method(method)
    _check_masks(masks)
    st = stats if stats is not None else _Shared(stack, cr_coincidences)
    n = stack.shape[0]
    dtype = stack.dtype
    full_map = np.full(stack.shape[1:], n, dtype=np.int16)
    plain = {"mean": st.mean, "median": st.median, "min": st.minimum}
    if method in plain:
        return Combination(plain[method].copy(), st.var.copy(), full_map, method)
    if masks is None:
        raise ValueError(f"combination method {method!r} needs the cosmic-ray masks (crmasks)")
    if use_auxmedian and masks.auxclean is None:
        raise ValueError(
            "use_auxmedian: the masks file has no AUXCLEAN extension "
            "(the detector used does not clean images)"
        )
    repl = np.asarray(masks.auxclean, dtype=dtype) if use_auxmedian else st.min2d
    m = masks.masks
    if method == "mediancr":
        out = _mediancr(st, m["MEDIANCR"], repl, full_map)
    elif method == "meancrt":
        out = _meancrt(st, m["MEANCRT"], m["MEDIANCR"], repl, full_map)
    else:
        base = st.meancr(masks, use_auxmedian, repl)
        out = Combination(base.data.copy(), base.variance.copy(), base.map.copy(), "meancr")
        if method == "meancr2":
            mc = m["MEANCR"]
            out.data[mc] = repl[mc]
            out.variance[mc] = 0
            out.map[mc] = 1
    out.method = method
    rows = masks.rpmedian
    if len(rows):
        _local_median(out.data, rows)
    return out


def _replaced(data, mask, repl, st, full_map, method):
    """``data`` with ``repl`` where ``mask``: VARIANCE 0 and MAP 1 there, the mean's elsewhere."""
    data[mask] = repl[mask]
    var = st.var.copy()
    var[mask] = 0
    mp = full_map.copy()
    mp[mask] = 1
    return Combination(data, var, mp, method)


def _mediancr(st, mask, repl, full_map):
    return _replaced(st.median.copy(), mask, repl, st, full_map, "mediancr")


def _meancrt(st, meancrt, mediancr, repl, full_map):
    """The mean, with the ``mediancr`` combination's values where MEANCRT (no copy of it)."""
    data = st.mean.copy()
    data[meancrt] = st.median[meancrt]
    return _replaced(data, meancrt & mediancr, repl, st, full_map, "meancrt")


def _meancr(stack, crmasks, repl):
    data, mp = masked_mean(stack, crmasks)
    var = sample_variance(stack, crmasks)
    none = mp == 0
    data[none] = repl[none]
    mp[none] = 1
    return Combination(data, var, mp, "meancr")


def meancr_image(stack: np.ndarray, crmasks, repl: np.ndarray, rpmedian=()) -> np.ndarray:
    """The ``meancr`` image alone (no VARIANCE, no MAP), as :func:`combine_stack` gives it.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Exposures (ADU).
    crmasks : sequence of N bool arrays (ny, nx)
        CRMASK1..N (True = cosmic ray).
    repl : ndarray (ny, nx)
        Value where every exposure is masked (min2d or AUXCLEAN, ADU).
    rpmedian : sequence of (x, y, x_width, y_width), optional
        Pixels replaced by their local median (FITS coordinates).

    Returns
    -------
    ndarray (ny, nx)
        Mean of the unmasked values (ADU), in the dtype of the stack.
    """
    data, _ = masked_mean(stack, crmasks, counts=False)
    none = np.logical_and.reduce([np.asarray(m, dtype=bool) for m in crmasks])
    data[none] = repl[none]
    if len(rpmedian):
        _local_median(data, rpmedian)
    return data


def combine_all(
    frames: Sequence[np.ndarray],
    methods: Sequence[str] = METHODS,
    *,
    masks=None,
    bias: float | np.ndarray = 0.0,
    use_auxmedian: bool = False,
    apply_flux_factor: bool | None = None,
    dtype: str = "float32",
) -> dict[str, Combination]:
    """Several combinations of the same exposures, sharing the stack and its statistics.

    Parameters are those of :func:`combine`; ``use_auxmedian`` applies to the CR
    methods only.

    Returns
    -------
    dict
        ``{method: Combination}`` in the order of ``methods``.
    """
    return dict(
        iter_combinations(
            frames,
            methods,
            masks=masks,
            bias=bias,
            use_auxmedian=use_auxmedian,
            apply_flux_factor=apply_flux_factor,
            dtype=dtype,
        )
    )


def iter_combinations(
    frames: Sequence[np.ndarray],
    methods: Sequence[str] = METHODS,
    *,
    masks=None,
    bias: float | np.ndarray = 0.0,
    use_auxmedian: bool = False,
    apply_flux_factor: bool | None = None,
    dtype: str = "float32",
) -> Iterator[tuple[str, Combination]]:
    """Yield ``(method, Combination)`` one at a time (see :func:`combine_all`).

    Only the shared stack, its statistics and the current combination are held
    in memory, so a caller that writes each result before asking for the next
    keeps the peak memory of a full MEGARA triplet low.
    """
    for method in methods:
        _check_method(method)
    check_bias(bias)
    stack, coinc = _prepare(frames, methods, masks, bias, apply_flux_factor, dtype)
    yield from iter_stack_combinations(
        stack, methods, masks=masks, use_auxmedian=use_auxmedian, cr_coincidences=coinc
    )


def iter_stack_combinations(
    stack: np.ndarray,
    methods: Sequence[str] = METHODS,
    *,
    masks=None,
    use_auxmedian: bool = False,
    cr_coincidences: int = 2,
    statistics=None,
) -> Iterator[tuple[str, Combination]]:
    """Yield ``(method, Combination)`` of a prepared stack, one at a time.

    Each combination is computed only when asked for: a caller that writes
    it and drops it before asking for the next holds one combination at a
    time besides the stack and the shared statistics.

    Parameters
    ----------
    stack : ndarray (N, ny, nx)
        Bias-subtracted (and rescaled) exposures in ADU, as the masks were
        computed on (``build_stack``).
    methods : sequence of str, optional
        Methods among :data:`METHODS`, in the order wanted.
    masks : CRMasks-like, optional
        Needed by the CR methods (see :func:`combine_stack`).
    use_auxmedian : bool, optional
        Replace by AUXCLEAN instead of min2d (CR methods only).
    cr_coincidences : int, optional
        Highest values excluded from min2d.
    statistics : StackStatistics, optional
        Statistics of this very stack with the same ``cr_coincidences`` (the
        mask computation's): mean, median and min2d are taken from it, not
        computed and held a second time.

    Yields
    ------
    tuple of (str, Combination)
    """
    for method in methods:
        _check_method(method)
    if statistics is not None and statistics.stack is not stack:
        raise ValueError("statistics: they must be those of the stack combined")
    shared = (
        _Shared(stack, cr_coincidences)
        if statistics is None
        else _Shared.from_statistics(statistics, cr_coincidences)
    )
    for m in methods:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: reported just below
            comb = combine_stack(
                stack,
                m,
                masks=masks,
                use_auxmedian=use_auxmedian and m in CR_METHODS,
                cr_coincidences=cr_coincidences,
                stats=shared,
            )
        check_finite_result(comb)
        yield m, comb
        del comb  # the caller's copy is the only one left while the next is computed


def _prepare(frames, methods, masks, bias, apply_flux_factor, dtype):
    """The bias-subtracted (and rescaled) stack and the min2d rule of the masks."""
    _check_masks(masks)
    if masks is None and any(m in CR_METHODS for m in methods):
        bad = next(m for m in methods if m in CR_METHODS)
        raise ValueError(f"combination method {bad!r} needs the cosmic-ray masks (crmasks)")
    ff = None
    coinc = 2
    if masks is not None:
        if apply_flux_factor is None:
            apply_flux_factor = masks.apply_flux_factor_to == "original"
        if apply_flux_factor:
            ff = np.asarray(masks.flux_factors, dtype=float)
        coinc = masks.cr_coincidences
    stack = build_stack(frames, bias=bias, flux_factors=ff, dtype=dtype)
    return stack, min(coinc, len(frames) - 1)


def combine(
    frames: Sequence[np.ndarray],
    method: str,
    *,
    masks=None,
    bias: float | np.ndarray = 0.0,
    use_auxmedian: bool = False,
    apply_flux_factor: bool | None = None,
    dtype: str = "float32",
) -> Combination:
    """Combine N exposures with one of the seven methods.

    Parameters
    ----------
    frames : sequence of ndarray (ny, nx)
        Exposures in ADU (never modified).
    method : str
        ``mean``, ``median``, ``min``, ``mediancr``, ``meancrt``, ``meancr`` or
        ``meancr2``.
    masks : CRMasks, optional
        Masks read from ``crmasks.fits``; required by the CR methods.
    bias : float or ndarray, optional
        Bias (ADU) subtracted from every frame.
    use_auxmedian : bool, optional
        Replace flagged pixels by AUXCLEAN instead of min2d.
    apply_flux_factor : bool or None, optional
        Divide each frame by its flux factor.  ``None`` (default) follows the
        masks: True when they were computed with ``apply_flux_factor_to:
        original``, False otherwise (the reference always applied them from
        the command line: defect 18).
    dtype : str, optional
        Floating dtype of the result.

    Returns
    -------
    Combination
    """
    return combine_all(
        frames,
        (method,),
        masks=masks,
        bias=bias,
        use_auxmedian=use_auxmedian,
        apply_flux_factor=apply_flux_factor,
        dtype=dtype,
    )[method]
