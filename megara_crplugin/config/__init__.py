"""The one parameter schema of megara_crplugin: declaration, validation, normalisation.

Every user-facing key (YAML ``requirements``, numina recipe parameters, CLI)
is declared once, as one row of :mod:`megara_crplugin.config.schema`, giving
:data:`PARAMETERS`.  :func:`validate_parameters` checks a mapping of such keys
*before any computation*, collects every problem in one pass and returns an
immutable :class:`CRConfig` holding normalised values; :class:`CRConfig`
itself is built from the declarations.  The same table generates the numina
recipe parameters, the CLI options, ``docs/parameters.md``
(:func:`parameters_markdown`) and the HISTORY record of the mask file
(:meth:`CRConfig.history_lines`).

Modules: :mod:`~.schema` (the declarations), :mod:`~.kinds` (one
:class:`~.kinds.Kind` per value family: parsing, messages, types),
:mod:`~.param` (:class:`Param`), :mod:`~.validation` (cross-parameter
rules), :mod:`~.crconfig` (:class:`CRConfig`), :mod:`~.markdown`.

Units: images are bias-subtracted and in ADU; ``gain`` is in e-/ADU,
``rnoise`` and ``bias`` in ADU (the MEGARA recipe works in electrons with
gain = 1).  Coordinates follow the FITS convention (1-based, inclusive), see
:mod:`megara_crplugin.regions`.  Mask polarity everywhere: True = cosmic ray.

Strings are never evaluated: ``None``/``'none'``/``'null'`` become None and
other strings holding Python literals are read with :func:`ast.literal_eval`.
"""

from __future__ import annotations

from .crconfig import CRConfig
from .kinds import KINDS, ConfigError, Kind
from .markdown import parameters_markdown
from .param import Param
from .schema import COMBINATIONS, CRMETHODS, GROUPS, PARAMETERS
from .validation import revalidate, validate_parameters

__all__ = [
    "COMBINATIONS",
    "CRMETHODS",
    "GROUPS",
    "KINDS",
    "PARAMETERS",
    "CRConfig",
    "ConfigError",
    "Kind",
    "Param",
    "parameters_markdown",
    "revalidate",
    "validate_parameters",
]
