"""Writing the ``combined_<method>.fits`` files of ``megara-crmasks PARAMS.yaml``.

Two ways the command overlaps the writing with other work, neither changing
a pixel of any file:

* :func:`write_combinations` computes each combination while the previous
  one is written (a thread: the file writes release the GIL), so at most two
  are held at a time;
* :class:`EarlyCombinations` writes the combinations that need no mask
  (``mean``, ``median``, ``min``: :data:`MASK_FREE`) in a forked child as soon
  as the stack and its statistics exist, and ``mediancr`` in another once
  MEDIANCR is final, while the other masks are computed (the ``on_stack`` and
  ``on_mediancr`` hooks of :func:`megara_crplugin.pipeline.compute_crmasks`).

Their log records ("combined_mean.fits written") are replayed in the parent
when it waits for the child.  Units: ADU.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._background import BackgroundCall

__all__ = ["MASK_FREE", "EarlyCombinations", "write_combinations"]

# the command's logger (records keep the name they had before this module existed)
log = logging.getLogger("megara_crplugin.cli")

#: Combinations computed from the stack statistics alone (no cosmic-ray mask).
MASK_FREE = ("mean", "median", "min")

#: Niceness added to the children writing early: they take the cores the detection leaves idle.
NICENESS = 10


def write_combinations(
    stage: Path,
    frames,
    masks,
    params,
    history,
    *,
    methods: Sequence[str],
    images=(),
    first=None,
    statistics=None,
    masks_uuid: str | None = None,
) -> list[Path]:
    """Compute and write the combinations, each file written while the next is computed.

    Parameters
    ----------
    stage : Path
        Folder the files go to.
    frames : sequence of ndarray
        The exposures (ADU); used only without ``statistics``.
    masks : CRMasks or None
        The masks (True = cosmic ray); None for :data:`MASK_FREE` methods only.
    params : CRConfig
        Uses ``bias``, ``use_auxmedian``, ``mm_cr_coincidences``, ``dtype``.
    history : list of str
        HISTORY lines of every file.
    methods : sequence of str
        Combination methods, in the order written.
    images : sequence of str, optional
        Input file names (``CRINPn`` keywords).
    first : astropy.io.fits.Header, optional
        Header of the first input (copied into each file's primary header).
    statistics : StackStatistics, optional
        The mask computation's (same stack): the stack is not built again.
    masks_uuid : str, optional
        UUID recorded in the headers (default: ``masks.uuid``).

    Returns
    -------
    list of Path
        The files written, in the order of ``methods``.

    Notes
    -----
    At most two combinations are held: the one being written and the one
    being computed.  A failure stops the loop once the write in flight has
    ended (the caller's staging folder is then removed whole).
    """
    from .combination import iter_combinations, iter_stack_combinations
    from .crmasks_file import combined_hdulist, write_hdulist
    from .provenance import combined_header

    uuid = masks.uuid if masks_uuid is None else masks_uuid
    if statistics is not None:
        combos = iter_stack_combinations(
            statistics.stack,
            methods,
            masks=masks,
            use_auxmedian=params.use_auxmedian,
            cr_coincidences=params.mm_cr_coincidences,
            statistics=statistics,
        )
    else:
        combos = iter_combinations(
            frames,
            methods,
            masks=masks,
            bias=params.bias,
            use_auxmedian=params.use_auxmedian,
            dtype=params.dtype,
        )
    written: list[Path] = []

    def write(hdul, name: str) -> None:
        written.append(write_hdulist(hdul, stage / name))
        log.info("%s written", name)

    with ThreadPoolExecutor(1, thread_name_prefix="combined-writer") as writer:
        in_flight = None
        for method, comb in combos:
            header = combined_header(first, method=method, inputs=images, masks_uuid=uuid)
            hdul = combined_hdulist(comb, history=history, masks_uuid=uuid, header=header)
            del comb
            if in_flight is not None:
                in_flight.result()  # the previous file is written before a third is computed
            in_flight = writer.submit(write, hdul, f"combined_{method}.fits")
            del hdul
        if in_flight is not None:
            in_flight.result()
    return written


class EarlyCombinations:
    """Combinations written in forked children while the masks are still being computed.

    :meth:`start` (the ``on_stack`` hook of
    :func:`~megara_crplugin.pipeline.compute_crmasks`) writes the
    :data:`MASK_FREE` ones as soon as the stack statistics exist;
    :meth:`start_mediancr` (its ``on_mediancr`` hook) writes ``mediancr`` once
    MEDIANCR is final, while MEANCRT, CRMASKi and MEANCR are computed.
    :meth:`result` waits for the files; :meth:`cancel` stops the children
    (before the caller removes the staging folder after a failure).  The
    children run at a lower priority (:data:`NICENESS`): they take the cores
    the detection leaves idle.

    Parameters
    ----------
    stage : Path
        Folder the files go to.
    params : CRConfig
        The run's parameters.
    history : list of str
        HISTORY lines.
    methods : sequence of str
        All the combinations asked for; those started here are :attr:`methods`.
    images, first
        As for :func:`write_combinations`.
    """

    def __init__(self, stage: Path, params, history, methods, *, images=(), first=None):
        self._wanted = list(methods)
        self._args = (stage, params, history, images, first)
        self._started: list[str] = []
        self._calls: list[BackgroundCall] = []

    @property
    def methods(self) -> list[str]:
        """The combinations started here (the caller writes the others)."""
        return list(self._started)

    def start(self, statistics, masks_uuid: str) -> None:
        """Write the mask-free combinations asked for (once)."""
        free = [m for m in self._wanted if m in MASK_FREE and m not in self._started]
        self._spawn(free, None, statistics, masks_uuid)

    def start_mediancr(self, result) -> None:
        """Write ``mediancr`` from ``result``'s final MEDIANCR (not with ``use_auxmedian``).

        With ``use_auxmedian`` the replacement values come from the file's
        AUXCLEAN: that combination is left to the caller.
        """
        params = self._args[1]
        if "mediancr" in self._wanted and "mediancr" not in self._started:
            if not params.use_auxmedian:
                self._spawn(["mediancr"], result.crmasks, result.stats, result.uuid)

    def _spawn(self, methods: list[str], masks, statistics, masks_uuid: str) -> None:
        if not methods:
            return
        stage, params, history, images, first = self._args
        parent = os.getpid()

        def write() -> list[Path]:
            if os.getpid() != parent:  # the forked child (a thread where fork is missing)
                os.nice(NICENESS)  # the detection's own processes come first
            return write_combinations(
                stage,
                None,
                masks,
                params,
                history,
                methods=methods,
                images=images,
                first=first,
                statistics=statistics,
                masks_uuid=masks_uuid,
            )

        self._calls.append(BackgroundCall(write, name="early combinations", process=True))
        self._started += methods

    def result(self) -> list[Path]:
        """Wait for the children; the files written (in the order started)."""
        calls, self._calls = self._calls, []
        return [path for call in calls for path in call.result()]

    def cancel(self) -> None:
        """Stop the children that still run (their files are left to the caller's cleanup)."""
        calls, self._calls = self._calls, []
        for call in calls:
            call.cancel()
