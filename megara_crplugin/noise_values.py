"""The one check of gain, read-noise and bias values (numbers or 2-D arrays).

The rule of each value is its declaration in ``config/schema.py``: ``gain``
(e-/ADU) > 0, ``rnoise`` (ADU) >= 0, ``bias`` (ADU) any; all finite; an array
must have the exposures' shape.  :func:`noise_problem` applies it for the three
places that receive these values, each of which reports a problem in its own
words: the parameter validation (``config/kinds.py``, :class:`ConfigError`),
:func:`megara_crplugin.inputs.noise_model` (:class:`InputError`) and the
single-image detectors (``detectors/base.py``, :class:`ValueError`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NoiseRule", "noise_problem", "value_at"]


@dataclass(frozen=True)
class NoiseRule:
    """Lower bound and unit of one noise parameter.

    Attributes
    ----------
    name : str
        ``'gain'``, ``'rnoise'`` or ``'bias'``.
    unit : str
        ``'e-/ADU'`` or ``'ADU'``.
    minimum : float or None
        Lower bound (None: any finite value).
    exclusive : bool
        The bound itself is not allowed (``> minimum``).
    """

    name: str
    unit: str
    minimum: float | None
    exclusive: bool

    @classmethod
    def of(cls, name: str) -> NoiseRule:
        """The rule declared in the schema for ``gain``, ``rnoise`` or ``bias``."""
        from .config.schema import PARAMETERS  # the schema imports the kinds, which use this

        p = PARAMETERS[name]
        return cls(name, p.unit, p.minimum, bool(p.min_exclusive))

    @property
    def text(self) -> str:
        """The bound in words: ``'> 0'``, ``'>= 0'`` or ``''``."""
        if self.minimum is None:
            return ""
        return f"{'>' if self.exclusive else '>='} {self.minimum:g}"


def noise_problem(
    values: np.ndarray | float, rule: NoiseRule, *, shape: tuple[int, int] | None = None
) -> str | None:
    """What is wrong with numeric gain / rnoise / bias values, or None.

    Parameters
    ----------
    values : float or ndarray
        The value(s), already numbers (a scalar or an array of float64).
    rule : NoiseRule
        Bound of the parameter.
    shape : tuple of int, optional
        Image shape ``(ny, nx)`` a 2-D array must have; not checked when None.

    Returns
    -------
    str or None
        ``'finite'`` (NaN or infinity), ``'range'`` (a value outside the bound)
        or ``'shape'`` (a 2-D array of another shape), checked in that order.
    """
    a = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return "finite"
    if rule.minimum is not None and not (
        np.all(a > rule.minimum) if rule.exclusive else np.all(a >= rule.minimum)
    ):
        return "range"
    if shape is not None and a.ndim == 2 and a.shape != tuple(shape):
        return "shape"
    return None


def value_at(value, index):
    """A gain or read noise (a number or a per-pixel image) at ``index``.

    ``index`` is ``(ys, xs)`` or a boolean mask; a number is returned as it is,
    so that the arithmetic that follows keeps the dtypes of the whole-frame
    computation (element-wise, the same values).
    """
    return value if np.ndim(value) == 0 else np.asarray(value)[index]
