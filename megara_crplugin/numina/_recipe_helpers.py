"""Helpers of the numina recipes (:mod:`megara_crplugin.numina.recipes`).

Input checks of the observation result (names, number and distinctness of the
exposures), progress to the recipe logger, atomic FITS writes, megaradrp's
preprocessing of each exposure and its master bad-pixel mask.  Frames are in
electrons after preprocessing; mask polarity ``True`` = bad / cosmic ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from megaradrp.core.recipe import MegaraBaseRecipe
from numina.exceptions import ValidationError

from ..config import ConfigError
from ..crmasks_file import write_hdulist
from ..exceptions import InputError
from ._checks import (
    check_requirement_names,
    mode_name,
)

__all__ = ["RecipeInputError"]


class RecipeInputError(InputError, ValidationError):
    """Bad observation-result input; ``numina run`` prints the message (no traceback)."""


def _check_names(recipe: Any, ob: Any) -> None:
    try:
        check_requirement_names(recipe, ob, mode_name(recipe), recipe.logger)
    except InputError as exc:
        raise RecipeInputError(str(exc)) from None


# --------------------------------------------------------------------------- helpers


class _LogProgress:
    """Progress sink of the recipes: one log line per phase (numina runs in batch)."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    @contextmanager
    def phase(self, name: str, total: int | None = None) -> Iterator[Any]:
        t0 = time.perf_counter()
        self.logger.info("cosmic rays: %s ...", name)
        yield lambda n=1: None
        self.logger.info("cosmic rays: %s done (%.1f s)", name, time.perf_counter() - t0)


def _write_atomic(hdul: fits.HDUList, path: Path) -> Path:
    """Write `hdul` to a temporary file next to `path`, then rename it."""
    return write_hdulist(hdul, path)


def _frame_label(frame: Any, index: int) -> str:
    name = getattr(frame, "filename", None)
    return os.path.basename(str(name)) if name else f"frame {index}"


def _frame_uuids(frames: Sequence[Any]) -> list[str]:
    """Identity of each raw frame: its UUID keyword, else a checksum of its pixels."""
    from ..identity import frame_identity

    out = []
    for frame in frames:
        with frame.open() as hdul:
            out.append(frame_identity(hdul[0].header, lambda h=hdul: h[0].data))
    return out


def _check_distinct(uuids: Sequence[str], labels: Sequence[str], mode: str) -> None:
    from ..identity import check_distinct

    try:
        check_distinct(uuids, labels)
    except InputError as exc:
        raise RecipeInputError(f"{mode}: {exc}") from None


def _display_available() -> bool:
    try:
        from ..interactive import display_available
    except ImportError:  # pragma: no cover - the interactive front-end is optional
        return False
    return bool(display_available())


def _preprocess(
    recipe: MegaraBaseRecipe, rinput: Any
) -> tuple[list[np.ndarray], list[fits.HDUList]]:
    """Both megaradrp reduction flows on every frame; return arrays (e-) and HDULists."""
    flows = recipe.init_filters(rinput, rinput.obresult.configuration)
    if len(flows) != 2:
        raise RuntimeError(f"expected 2 reduction flows from megaradrp, got {len(flows)}")
    flow_ot, flow_1im = flows
    reduced = []
    with contextlib.ExitStack() as stack:
        for i, frame in enumerate(rinput.obresult.frames):
            hdul = flow_1im(flow_ot(stack.enter_context(frame.open())))
            # detached copy: primary of every frame, the other extensions (FIBERS,
            # thousands of cards) only of the first one, whose header the products use
            prim = fits.PrimaryHDU(np.array(hdul[0].data), header=hdul[0].header.copy())
            extra = [ext.copy() for ext in hdul[1:]] if i == 0 else []
            reduced.append(fits.HDUList([prim, *extra]))
    arrays = [np.asarray(h[0].data, dtype=np.float32) for h in reduced]
    return arrays, reduced


def _with_master_bpm(recipe: Any, rinput: Any, config: Any) -> Any:
    """Known defects from megaradrp's master BPM (1 = bad) unless ``bpm`` is given."""
    master = getattr(rinput, "master_bpm", None)
    if master is None or config.bpm is not None:
        return config
    with master.open() as hdul:
        data = np.asarray(hdul[0].data)
    recipe.logger.info("bpm: known defects from the master BPM (%d pixels)", int((data != 0).sum()))
    try:
        return config.replace(bpm=data)
    except ConfigError as exc:
        raise RecipeInputError(f"MegaraCrDetection: master_bpm: {exc}") from None


def _check_n_frames(rinput: Any, mode: str) -> list[Any]:
    frames = list(rinput.obresult.frames)
    if len(frames) < 3:
        names = ", ".join(_frame_label(f, i) for i, f in enumerate(frames, start=1)) or "none"
        raise RecipeInputError(
            f"{mode}: at least 3 equivalent exposures are needed in the observation result, "
            f"got {len(frames)} ({names})"
        )
    return frames
