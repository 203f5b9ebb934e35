"""Declaration of one parameter (:class:`Param`) and its validation.

Kind-dependent behaviour (parsing, messages, documentation type) comes from
:data:`megara_crplugin.config.kinds.KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..regions import describe
from .kinds import KINDS, NONE_STRINGS, ConfigError, Kind, bounds, parse_literal

__all__ = ["Param"]


@dataclass(frozen=True)
class Param:
    """Declaration of one parameter.

    Attributes
    ----------
    name : str
        Key in YAML ``requirements`` and attribute of :class:`CRConfig`.
    group : {'general', 'la', 'pc', 'dc', 'nn', 'mm'}
        Which detector or stage uses it.
    kind : str
        Value family (key of :data:`~megara_crplugin.config.kinds.KINDS`:
        'bool', 'int', 'float', 'choice', 'pair', 'noise', 'regions', ...),
        decides parsing and normalisation.
    default : object
        Default as a plain Python value of the real type (lists, not tuples).
    description : str
        One-line description.
    unit : str
        Physical unit ('' when dimensionless).
    choices : tuple of str, optional
        Allowed values of enumerated parameters.
    minimum, maximum : float, optional
        Range limits; exclusive when ``min_exclusive``/``max_exclusive``.
    odd : bool
        Integers must be odd.
    nullable : bool
        ``None`` (or 'none'/'null') is a valid value.
    note : str
        Extra rule text for the documentation.
    """

    name: str
    group: str
    kind: str
    default: Any
    description: str
    unit: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    odd: bool = False
    nullable: bool = False
    note: str = ""

    @property
    def kind_spec(self) -> Kind:
        """The :class:`~megara_crplugin.config.kinds.Kind` of this parameter."""
        return KINDS[self.kind]

    @property
    def type_label(self) -> str:
        """YAML-level type in words (for documentation)."""
        return self.kind_spec.label

    @property
    def rule(self) -> str:
        """Allowed values in words, e.g. ``'odd; >= 3'`` or ``"'poisson', 'nbinom'"``."""
        parts = []
        if self.choices:
            parts.append(", ".join(repr(c) for c in self.choices))
        if self.odd:
            parts.append("odd")
        if bounds(self):
            parts.append(bounds(self))
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def validate(
        self,
        value: Any,
        *,
        n_images: int | None = None,
        shape: tuple[int, int] | None = None,
    ) -> Any:
        """Check one value and return it normalised.

        Parameters
        ----------
        value : object
            The user value (YAML type, Python value or a string holding a
            Python literal).  ``None``, 'none', 'None' and 'null' mean None.
        n_images : int, optional
            Number of exposures, for length checks (flux_factor,
            mm_xy_offsets); skipped when None.
        shape : tuple of int, optional
            Image shape ``(ny, nx)``, for regions, pixels and arrays; skipped
            when None.

        Returns
        -------
        object
            The normalised value (see :class:`CRConfig`).

        Raises
        ------
        ConfigError
            ``"<name>: expected <what>, got <repr>"``.
        """
        if isinstance(value, str) and value.strip().lower() in NONE_STRINGS:
            value = None
        if isinstance(value, str) and self.kind not in ("choice", "flux_factor"):
            value = parse_literal(value)
        elif isinstance(value, str) and self.kind == "flux_factor" and value.strip() != "auto":
            value = parse_literal(value)
        if value is None and not self.nullable:
            raise ConfigError(f"{self.name}: expected {self._expected()}, got None")
        try:
            return self.kind_spec.normalise(self, value, n_images, shape)
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{self.name}: {exc}") from None

    def _expected(self) -> str:
        return self.kind_spec.expected(self)

    def _fail(self, value: Any) -> ConfigError:
        return ConfigError(f"{self.name}: expected {self._expected()}, got {describe(value)}")
