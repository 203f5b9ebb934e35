"""Checks and records shared by the numina recipes of the plugin.

* :func:`check_requirement_names`: an observation result's requirement whose
  name is not a requirement of the recipe is refused when it looks like a
  misspelling (did-you-mean), otherwise logged as a warning; numina itself
  ignores unknown names silently, so ``crmask: masks.fits`` would run a plain
  median.
* :func:`resolve_method`: the combination method of the science recipes does
  not depend on the instrument profile: ``method: auto`` (the default) is
  ``meancr2`` when ``crmasks`` is given and ``median`` otherwise.
* :func:`calibration_history`: HISTORY lines naming the master bias, dark
  and bad-pixel mask used (file names and UUIDs).
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from ..exceptions import InputError

__all__ = [
    "AUTO_METHOD",
    "RECOMMENDED_CR_METHOD",
    "calibration_history",
    "check_requirement_names",
    "mark_stock_variance",
    "mode_name",
    "resolve_method",
    "science_requirements",
]

#: Default ``method`` of the science recipes: chosen from the presence of crmasks.
AUTO_METHOD = "auto"
#: CR method used by ``method: auto`` when ``crmasks`` is given (docs/combination.md).
RECOMMENDED_CR_METHOD = "meancr2"

#: Calibration requirements recorded in the products' HISTORY.
_CALIBRATIONS = ("master_bias", "master_dark", "master_bpm")


def check_requirement_names(recipe: Any, ob: Any, mode: str, logger: Any) -> None:
    """Refuse a misspelt requirement of ``ob`` (did-you-mean); warn about other unknown ones.

    Raises
    ------
    InputError
        When an unknown name is close to a requirement of the recipe.
    """
    given = getattr(ob, "requirements", None) or {}
    known = list(recipe.requirements())
    for name in given:
        if name in known:
            continue
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.75)
        if close:
            raise InputError(
                f"{mode}: unknown requirement {name!r}; did you mean {close[0]!r}? "
                f"(requirements of {mode}: {', '.join(sorted(known))})"
            )
        logger.warning("%s: requirement %r is not used by this recipe (ignored)", mode, name)


def resolve_method(rinput: Any, cr_methods: tuple[str, ...], mode: str, logger: Any) -> str:
    """The combination method to use, independent of the instrument profile.

    ``auto``: ``meancr2`` with crmasks, else ``median``.  A plain method given
    explicitly together with crmasks is honoured with a WARNING (the masks are
    not used).
    """
    method = rinput.method
    has_masks = getattr(rinput, "crmasks", None) is not None
    if method in (None, AUTO_METHOD):
        method = RECOMMENDED_CR_METHOD if has_masks else "median"
        logger.info(
            "%s: method auto -> %r (crmasks %s)",
            mode,
            method,
            "given" if has_masks else "not given",
        )
    elif has_masks and method not in cr_methods:
        logger.warning(
            "%s: crmasks given but method %r does not use them: the cosmic rays are NOT "
            "removed by the masks (use method %s, or auto)",
            mode,
            method,
            " / ".join(cr_methods),
        )
    return method


def _uuid_of(frame: Any) -> tuple[str, str]:
    """(file name, UUID) of a numina DataFrame; '?' when unknown."""
    name = os.path.basename(str(getattr(frame, "filename", "") or "")) or "?"
    try:
        with frame.open() as hdul:
            uuid = str(hdul[0].header.get("UUID", "?"))
    except Exception:  # noqa: BLE001  (a calibration that cannot be read: record '?')
        uuid = "?"
    return name, uuid


def calibration_history(rinput: Any) -> list[str]:
    """HISTORY lines of the master bias, dark and BPM used (``'none'`` when absent)."""
    lines = []
    for key in _CALIBRATIONS:
        frame = getattr(rinput, key, None)
        if frame is None:
            lines.append(f"{key}: none")
            continue
        name, uuid = _uuid_of(frame)
        lines.append(f"{key}: {name} UUID {uuid}")
    return lines


def mode_name(recipe: Any) -> str:
    """Observing-mode name of a recipe (its class name when numina did not set it)."""
    mode = getattr(recipe, "mode", None)
    return getattr(mode, "key", mode) if mode not in (None, "UNKNOWN") else type(recipe).__name__


def science_requirements(methods: tuple[str, ...]) -> dict[str, Any]:
    """Requirements redefined by every CR-aware science recipe (fresh objects)."""
    import megaradrp.requirements as reqs
    from numina.core import Parameter

    crmasks = reqs.CRMasksRequirement(optional=True)
    crmasks.description = (
        "crmasks.fits written by MegaraCrDetection for the same frames (cosmic-ray masks "
        "MEDIANCR, MEANCRT, CRMASK1..N, MEANCR); used by the CR methods"
    )
    return {
        "method": Parameter(
            AUTO_METHOD,
            description="Combination method: auto (meancr2 when crmasks is given, else median), "
            "mean, median, sigmaclip (megaradrp's stock path), or mediancr, meancrt, meancr, "
            "meancr2 (need crmasks)",
            choices=[AUTO_METHOD, *methods],
        ),
        "method_kwargs": Parameter(
            dict(),
            description="Arguments of a CR method: apply_flux_factor, use_auxmedian, dtype",
            optional=True,
        ),
        "crmasks": crmasks,
    }


def mark_stock_variance(header: Any, method: str) -> None:
    """VARDEF card of a product of megaradrp's stock path (plain methods)."""
    header["VARDEF"] = (f"megaradrp {method}", "VARIANCE as computed by megaradrp")
    header.add_comment(
        f"VARIANCE extension ({method}, megaradrp's stock path): megaradrp's own estimate "
        "(for median about 0.57x the sample variance of the frames; the CR methods of "
        "megara_crplugin write 1.0x)"
    )
