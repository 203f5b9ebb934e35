"""Pages of the documentation generated from the code (used by ``docs/conf.py``).

The parameter reference is written at every documentation build from the one
schema (:data:`megara_crplugin.config.PARAMETERS`), so adding a parameter
updates the docs without anyone regenerating a file by hand.  The tests call
the same function to check that every schema key is documented.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import parameters_markdown

__all__ = ["parameter_reference", "write_parameter_reference"]

_INTRO = """\
# Parameter reference

Every parameter the masks computation accepts, with its type, default, allowed values,
unit and meaning. This page is generated from the schema
(`megara_crplugin.config.PARAMETERS`) every time the documentation is built, so it always
lists what the installed version validates: the `requirements` block of the YAML file of
[the command](cli.md), the parameters of the numina recipe `MegaraCrDetection`
([numina.md](numina.md)) and the `parameters` mapping of
`megara_crplugin.pipeline.compute_crmasks` all use these names.

Conventions: images are in ADU, `gain` in e-/ADU (MEGARA frames reach the plugin in
electrons with gain 1, so read ADU as e- there); coordinates follow the FITS convention
(1-based, inclusive, `[xmin, xmax, ymin, ymax]`); masks use True/1 = cosmic ray. `null`
and the strings `none`/`None`/`null` are equivalent. Explanations and examples of the
parameters are in [configuration.md](configuration.md).
"""


def parameter_reference() -> str:
    """Markdown of the parameter reference page, one table per parameter group.

    Returns
    -------
    str
        The page: an introduction followed by the tables of
        :func:`megara_crplugin.config.parameters_markdown` (columns name, type,
        default, allowed values, unit, description).
    """
    tables = parameters_markdown()
    start = tables.index("\n## ")
    return _INTRO + tables[start:]


def write_parameter_reference(path: str | os.PathLike) -> Path:
    """Write :func:`parameter_reference` to ``path`` when its content changed.

    The file is left untouched when it already holds the same text, so a
    documentation build does not see it as modified.

    Parameters
    ----------
    path : path-like
        Destination Markdown file (``docs/parameters.md`` during a build).

    Returns
    -------
    pathlib.Path
        The path written (or found up to date).
    """
    path = Path(path)
    text = parameter_reference()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
