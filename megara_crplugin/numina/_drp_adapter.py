"""The only place that edits a loaded numina ``InstrumentDRP`` in place.

Why this module exists: the plugin adds its pipeline and observing modes to the
MEGARA DRP that numina has already loaded (``numina.drps.get_system_drps()``),
instead of registering a second ``MEGARA`` DRP, so that every ``numina``
command and every existing observation result keep working.  numina 0.40 has
no public call to add a pipeline, a mode or default requirements to a loaded
DRP: :class:`numina.core.pipeline.InstrumentDRP` only takes them in its
constructor (as the ``modes`` and ``pipelines`` dicts, and the private
``_def_reqs`` table read back by the public ``default_requirements()``).  The
three functions below therefore write those attributes, and nothing else in
the package does.  ``tests/test_numina_adapter.py`` checks the numina facts
they rely on and fails loudly, naming this module, when an upgrade changes
them; replace the bodies with the public API if numina ever provides one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["add_mode", "add_pipeline", "has_default_requirements", "set_default_requirements"]

#: The private InstrumentDRP attribute that backs ``default_requirements()``.
_DEF_REQS = "_def_reqs"


def has_default_requirements(drp: Any) -> bool:
    """True when ``drp`` keeps a default-requirements table this module can edit."""
    return hasattr(drp, _DEF_REQS)


def set_default_requirements(drp: Any, values: dict) -> None:
    """Replace the table that ``drp.default_requirements()`` returns a copy of."""
    setattr(drp, _DEF_REQS, values)


def add_pipeline(drp: Any, pipeline: Any) -> None:
    """Make ``pipeline`` selectable as ``drp.pipelines[pipeline.name]``."""
    pipeline.drp = drp
    drp.pipelines[pipeline.name] = pipeline


def add_mode(drp: Any, key: str, mode: Any) -> None:
    """Make ``mode`` the observing mode ``key`` of ``drp`` (added or replaced)."""
    drp.modes[key] = mode
