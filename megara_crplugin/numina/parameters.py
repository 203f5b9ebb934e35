"""numina recipe Parameters generated from the one parameter schema.

Every entry of :data:`megara_crplugin.config.PARAMETERS` becomes a numina
:class:`~numina.core.dataholders.Requirement` holding a plain value (a
parameter) of the MEGARA recipe, with the schema's default, description,
unit and choices, and a data type that validates a value with the schema
(:meth:`megara_crplugin.config.Param.validate`).
There is no second list of parameters to keep in sync.

The MEGARA recipe works on frames already in electrons with the bias removed,
so ``gain`` (1 e-/ADU) and ``bias`` (0) are fixed by the recipe
(:data:`FIXED_BY_RECIPE`) and are not parameters; ``rnoise`` stays a
parameter, in electrons (default 3.4 e-, MEGARA's read noise).
"""

from __future__ import annotations

from typing import Any

from numina.core import Requirement
from numina.exceptions import ValidationError
from numina.types.datatype import DataType

from .._plugin_params import registered_crmethods
from ..config import KINDS, PARAMETERS, ConfigError, Param

__all__ = [
    "FIXED_BY_RECIPE",
    "SCALAR_KINDS",
    "SchemaParameter",
    "SchemaValueType",
    "recipe_parameters",
    "schema_values",
]

#: Values the MEGARA recipe passes to the core instead of exposing parameters:
#: frames are in electrons (gain 1 e-/ADU) with the bias already subtracted (0).
FIXED_BY_RECIPE: dict[str, float] = {"gain": 1.0, "bias": 0.0}

#: Schema kinds whose normalised value is handed to the recipe (others keep
#: the user's value, which the core validates again with the image shape).
SCALAR_KINDS = frozenset(name for name, kind in KINDS.items() if kind.scalar)

#: Descriptions that change for MEGARA (units in electrons).
_MEGARA_DESCRIPTIONS = {
    "rnoise": "Read-out noise of the preprocessed frames (e-, MEGARA frames are in electrons)",
}


class SchemaValueType(DataType):
    """numina data type of one schema parameter.

    ``convert`` validates with :meth:`megara_crplugin.config.Param.validate`
    (no image shape known yet, so region bounds and list lengths are checked
    later by the core) and raises :class:`numina.exceptions.ValidationError`
    with the schema's message, which ``numina run`` reports as an input error.

    Parameters
    ----------
    param : megara_crplugin.config.Param
        The schema entry.
    """

    def __init__(self, param: Param):
        super().__init__(ptype=object)
        self.param = param

    def convert(self, obj: Any) -> Any:
        """Validate `obj`; return the normalised value (scalars) or `obj` itself."""
        try:
            value = self.param.validate(obj)
        except ConfigError as exc:
            raise ValidationError(str(exc)) from None
        return value if self.param.kind in SCALAR_KINDS else obj

    def validate(self, obj: Any) -> bool:
        """Return True if `obj` is valid, else raise ValidationError."""
        self.convert(obj)
        return True

    def descriptive_name(self) -> str:
        """Type in words, as shown by ``numina show-recipes``."""
        return self.param.type_label

    def __repr__(self) -> str:
        return f"SchemaValueType({self.param.name})"


class SchemaParameter(Requirement):
    """A numina recipe requirement holding a plain value, backed by a schema entry.

    Built with the public constructor of :class:`numina.core.Requirement`
    (type object, default, choices), so nothing is written into numina's
    objects after construction.  numina's ``Parameter`` cannot be used: it
    infers the type from the default value, and many defaults are ``None`` or
    lists whose real type is wider (``float or null``, a pair of floats...).
    Values are validated by :class:`SchemaValueType` with the schema's
    message.

    Parameters
    ----------
    param : megara_crplugin.config.Param
        The schema entry (name, default, description, unit, choices, rule).
    description : str, optional
        Replaces the schema's description (the unit and rule are appended).
    """

    def __init__(self, param: Param, *, description: str | None = None):
        default = param.default
        text = description or param.description
        # MEGARA frames reach the core in electrons with gain 1: ADU = e-
        unit_name = "e-" if param.unit == "ADU" else param.unit
        unit = f" [{unit_name}]" if unit_name and param.name not in _MEGARA_DESCRIPTIONS else ""
        rule = f" ({param.rule})" if param.rule else ""
        super().__init__(
            SchemaValueType(param),
            f"{text.rstrip('.')}{unit}{rule}",
            optional=True,
            default=list(default) if isinstance(default, tuple) else default,
            choices=_choices(param),
        )
        self.schema = param


def _choices(param: Param) -> list[str] | None:
    """Allowed values numina checks; ``crmethod`` follows the detector registry."""
    if param.name == "crmethod":
        return list(registered_crmethods())
    return list(param.choices) if param.kind == "choice" and param.choices else None


def recipe_parameters(*, fixed: dict[str, Any] | None = None) -> dict[str, SchemaParameter]:
    """New numina Parameters for every schema entry except the fixed ones.

    Parameters
    ----------
    fixed : dict, optional
        Schema names the recipe fixes itself; default :data:`FIXED_BY_RECIPE`.

    Returns
    -------
    dict
        ``{name: SchemaParameter}`` in the schema's order, ready to be class
        attributes of a numina recipe (fresh objects on every call).
    """
    skip = FIXED_BY_RECIPE if fixed is None else fixed
    return {
        name: SchemaParameter(param, description=_MEGARA_DESCRIPTIONS.get(name))
        for name, param in PARAMETERS.items()
        if name not in skip
    }


def schema_values(rinput: Any, *, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Collect the schema parameters of a recipe input, plus the fixed values.

    Parameters
    ----------
    rinput : numina RecipeInput
        Input of a recipe declared with :func:`recipe_parameters`.
    fixed : dict, optional
        Values fixed by the recipe; default :data:`FIXED_BY_RECIPE`.

    Returns
    -------
    dict
        ``{name: value}`` for every key of
        :data:`megara_crplugin.config.PARAMETERS`, ready for
        :func:`megara_crplugin.config.validate_parameters`.
    """
    fixed = dict(FIXED_BY_RECIPE if fixed is None else fixed)
    values = {name: getattr(rinput, name) for name in PARAMETERS if name not in fixed}
    values.update(fixed)
    return values
