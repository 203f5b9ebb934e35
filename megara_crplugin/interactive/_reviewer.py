"""The interactive reviewer: figures with keys plus terminal dialogues."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..exceptions import UserStop
from ..hooks import BoundaryDecision
from . import _figures
from ._dialogs import (
    Terminal,
    normalise_fixed_points,
    refit_dialog,
    resimulate_dialog,
    verify_answer,
)
from ._keys import HISTOGRAM_HELP, HistogramKeys

__all__ = ["InteractiveReviewer"]

logger = logging.getLogger("megara_crplugin.interactive")


def _log_echo(text: str) -> None:
    for line in str(text).splitlines() or [""]:
        logger.info("%s", line)


def _pyplot_show(fig: Any) -> None:
    """Show ``fig`` in a window and block until it is closed."""
    import matplotlib.pyplot as plt

    plt.show(block=True)
    plt.close(fig)


class InteractiveReviewer:
    """Reviewer for ``interactive: True``: shows figures, reads keys and answers.

    Implements :class:`megara_crplugin.hooks.Reviewer`.

    Parameters
    ----------
    ask : callable, optional
        ``ask(prompt) -> str``, the terminal prompt (default :func:`input`).
        Tests pass a scripted function.  End of input stops the run
        (:class:`~megara_crplugin.exceptions.UserStop`).
    echo : callable, optional
        ``echo(text)`` receives every message (help texts, tables, pixel
        information).  Default: the ``megara_crplugin.interactive`` logger at
        INFO level.  Messages and answered prompts are also kept in
        :attr:`transcript` (for ``--record``).
    show : callable, optional
        ``show(fig)`` displays a figure and returns when it is closed.
        Default: a pyplot window, ``matplotlib.pyplot.show(block=True)``;
        feature pages of ``verify_cr`` are then shown without blocking while
        the terminal question is asked.  Tests pass a function that sends
        synthetic key events to the figure (an Agg canvas).
    output_dir : path-like, optional
        When given, the MM diagram is saved as ``diagnostic_histogram2d.png``
        there on every (re)display (temporary name, then rename).

    Notes
    -----
    Keys of the MM diagram: ``c`` continue, ``r`` refit with questions,
    ``m`` repeat the simulations with questions, ``x`` stop, ``?`` help.
    Keys of the MEDIANCR figure: see :data:`MEDIANCR_HELP`.  Closing a window
    without a deciding key counts as ``c``.  Stopping raises
    :class:`~megara_crplugin.exceptions.UserStop`; nothing calls ``sys.exit``.
    """

    def __init__(
        self,
        *,
        ask: Callable[[str], str] = input,
        echo: Callable[[str], None] | None = None,
        show: Callable[[Any], None] | None = None,
        output_dir: str | Path | None = None,
    ) -> None:
        self._managed = show is None
        self._show = _pyplot_show if show is None else show
        self.output_dir = None if output_dir is None else Path(output_dir)
        if self.output_dir is not None and not self.output_dir.is_dir():
            raise ValueError(f"output_dir: {str(self.output_dir)!r} is not an existing directory")
        self.terminal = Terminal(ask=ask, echo=_log_echo if echo is None else echo)

    @property
    def transcript(self) -> list[str]:
        """Every message shown and every ``prompt + answer``, in order."""
        return self.terminal.transcript

    # ------------------------------------------------------------------ MM diagram
    def review_boundary(
        self, histogram: Any, boundary: Any, stats: Any, config: Any
    ) -> BoundaryDecision:
        """Show the MM diagram; return the operator's decision.

        Parameters
        ----------
        histogram : SimulatedHistogram
            Simulated and real histograms (ADU bins).
        boundary : Boundary
            Current detection boundary (ADU).
        stats : StackStatistics
            Per-pixel statistics (unused by the dialogue; part of the protocol).
        config : CRConfig
            Current parameters (bracketed defaults of the questions).

        Returns
        -------
        BoundaryDecision
            ``continue`` (key ``c`` or window closed), ``refit`` (key ``r``)
            or ``resimulate`` (key ``m``) with the answers as ``changes``.

        Raises
        ------
        UserStop
            Key ``x``, or end of input while answering.
        """
        fig = _figures.new_figure((12.1, 5.5), managed=self._managed)
        _figures.draw_histogram(fig, histogram, boundary, config)
        if self.output_dir is not None:
            _figures.save_png(fig, self.output_dir / "diagnostic_histogram2d.png")
        keys = HistogramKeys()

        def on_key(event: Any) -> bool:
            action = keys.press(event.key)
            if action is None:
                return False
            if action == "help":
                self.terminal.say(HISTOGRAM_HELP)
            else:
                _figures.close_figure(fig)
            return True

        _figures.route_keys(fig, on_key)
        self.terminal.say("MM diagram: press '?' for help, 'c' to continue.")
        self._show(fig)
        decision = keys.decision or "continue"
        if decision == "stop":
            raise UserStop("stopped by the operator (key 'x' on the MM diagram)")
        if decision == "refit":
            fixed = getattr(boundary, "fixed_points", None)
            if fixed is None or len(fixed) == 0:
                fixed = getattr(config, "mm_fixed_points_in_boundary", None)
            changes = refit_dialog(self.terminal, config, normalise_fixed_points(fixed))
            return BoundaryDecision("refit", changes)
        if decision == "resimulate":
            changes = resimulate_dialog(self.terminal, histogram, config)
            return BoundaryDecision("resimulate", changes)
        return BoundaryDecision("continue")

    # ------------------------------------------------------------------ MEDIANCR
    def review_mediancr(self, result: Any) -> None:
        """Show the MEDIANCR diagnostic figure with its keys.

        Parameters
        ----------
        result : CRMaskResult
            Masks computed so far (``targets['MEDIANCR'].code`` 0-4, stats in
            ADU; ``boundary``/``histogram`` may be None for Aux-only methods).

        Raises
        ------
        UserStop
            Key ``x``.
        """
        fig = _figures.new_figure((12.0, 8.0), managed=self._managed)
        panels = _figures.draw_mediancr(fig, result)
        view = _figures.MediancrView(panels, result, self.terminal.say)
        self.terminal.say("MEDIANCR diagnostic: press '?' for help, 'c' to continue.")
        self._show(fig)
        if view.keys.decision == "stop":
            raise UserStop("stopped by the operator (key 'x' on the MEDIANCR figure)")

    # ------------------------------------------------------------------ verify_cr
    def verify_features(self, result: Any, features: list[Any]) -> set[int]:
        """Ask, feature by feature, whether each MEDIANCR feature is a cosmic ray.

        Parameters
        ----------
        result : CRMaskResult
            Masks computed so far (ADU images, MEDIANCR code map).
        features : list of Feature
            Features in the order to review (number 1 = farthest above the
            boundary).

        Returns
        -------
        set of int
            Numbers of the rejected features (answer ``n``); the core removes
            their pixels from MEDIANCR (True = cosmic ray is kept otherwise).
            ``a`` accepts the current feature and all remaining ones.

        Raises
        ------
        UserStop
            Answer ``s``.
        """
        rejected: set[int] = set()
        total = len(features)
        pages = _figures.FeaturePages(result) if features else None
        for index, feature in enumerate(features, start=1):
            fig = _figures.new_figure((16.0, 5.5), managed=self._managed)
            pages.draw(fig, feature)
            self._present_page(fig)
            y, x = feature.centroid
            question = (
                f"CR#{feature.number} ({index}/{total}, {feature.category}, "
                f"{len(feature.xs)} pixels, centre X={x + 1:.0f} Y={y + 1:.0f}): "
                "keep it in MEDIANCR?"
            )
            try:
                answer = verify_answer(self.terminal, question)
            finally:
                _figures.close_figure(fig)
            if answer == "s":
                raise UserStop("stopped by the operator while verifying MEDIANCR features")
            if answer == "n":
                rejected.add(int(feature.number))
            if answer == "a":
                self.terminal.say(f"Remaining {total - index} features accepted.")
                break
        if rejected:
            npix = sum(len(f.xs) for f in features if f.number in rejected)
            self.terminal.say(
                f"Rejected features: {sorted(rejected)} ({npix} pixels removed from MEDIANCR)."
            )
        return rejected

    def _present_page(self, fig: Any) -> None:
        if not self._managed:
            self._show(fig)
            return
        import matplotlib.pyplot as plt

        plt.show(block=False)
        plt.pause(0.1)
