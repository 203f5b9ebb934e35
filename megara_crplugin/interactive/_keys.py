"""Key -> action state machines of the interactive figures (no matplotlib here).

Each figure has a small object whose :meth:`press` maps one key (the
``event.key`` string of matplotlib) to an action name, updating its own view
state.  The figure wiring (:mod:`._figures`) performs the action; the tests
drive these objects directly.  Keys that are not listed are left to
matplotlib's standard handler (zoom, pan, save...).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "HISTOGRAM_HELP",
    "MEDIANCR_HELP",
    "RESIMULATE_KEY",
    "HistogramKeys",
    "MediancrKeys",
]

#: Key of the MM diagram that repeats the simulations with new parameters.
#: ``r`` refits (as in the user guide); ``m`` ("Monte Carlo") is free in
#: matplotlib's default keymap, unlike ``s`` (save) or ``f`` (full screen).
RESIMULATE_KEY = "m"

_RULE = "-" * 79
_DOTS = "." * 79

HISTOGRAM_HELP = "\n".join(
    [
        _RULE,
        "Keyboard shortcuts:",
        "'h': reset zoom to initial limits",
        "'p': pan mode",
        "'o': zoom to rectangle",
        "'f': toggle full screen mode",
        "'s': save the figure to a PNG file",
        _DOTS,
        "'?': show this help message",
        "'c': close the plot and continue the program execution",
        "'r': close the plot and refit the detection boundary (questions in the terminal)",
        f"'{RESIMULATE_KEY}': close the plot and repeat the simulations with new parameters",
        "     (questions in the terminal)",
        "'x': halt the program execution",
        _RULE,
    ]
)

MEDIANCR_HELP = "\n".join(
    [
        _RULE,
        "Keyboard shortcuts:",
        "'h' or 'r': reset zoom to initial limits",
        "'p': pan mode",
        "'o': zoom to rectangle",
        "'f': toggle full screen mode",
        "'s': save the figure to a PNG file",
        _DOTS,
        "'?': show this help message",
        "'i': print pixel info at mouse position (ax3 only)",
        "'&': print CR pixels within the zoomed region (ax3 only)",
        "'n': toggle display of number of cosmic rays (ax3 only)",
        "'a': toggle imshow aspect='equal' / aspect='auto' (ax3 and ax4 only)",
        "'t': toggle mean2d -> individual exposures in ax4",
        "'0': switch to mean2d in ax4",
        "'1', '2', ...: switch to individual exposure #1, #2, ... in ax4",
        "',': set vmin and vmax to min and max of the zoomed region (ax3 and ax4 only)",
        "'/': set vmin and vmax using zscale of the zoomed region (ax3 and ax4 only)",
        "'c': close the plot and continue the program execution",
        "'x': halt the program execution",
        _RULE,
    ]
)


@dataclass
class HistogramKeys:
    """Keys of the MM diagram (``diagnostic_histogram2d``).

    ``decision`` becomes ``'continue'``, ``'stop'``, ``'refit'`` or
    ``'resimulate'`` on the first deciding key; later keys are ignored.
    """

    decision: str | None = None

    _ACTIONS = {"c": "continue", "x": "stop", "r": "refit", RESIMULATE_KEY: "resimulate"}

    def press(self, key: str | None) -> str | None:
        """Return ``'help'``, a decision name, or ``None`` (key not handled here)."""
        if key == "?":
            return "help"
        if key in self._ACTIONS:
            if self.decision is None:
                self.decision = self._ACTIONS[key]
            return self._ACTIONS[key]
        return None


@dataclass
class MediancrKeys:
    """Keys and view state of the MEDIANCR diagnostic figure.

    Attributes
    ----------
    n_frames : int
        Number of exposures (keys ``1``..``9`` beyond it are refused).
    image : int
        What panel (d) shows: 0 = mean2d, k = exposure k (1-based).
    numbers : bool
        Panel (c) shows sequence numbers instead of symbols.
    aspect : str
        ``'equal'`` or ``'auto'`` for panels (c) and (d).
    decision : str or None
        ``'continue'`` or ``'stop'`` once decided.
    """

    n_frames: int
    image: int = 0
    numbers: bool = False
    aspect: str = "equal"
    decision: str | None = None

    def press(self, key: str | None) -> str | None:
        """Update the state for ``key`` and return the action name.

        Actions: ``help``, ``info``, ``list``, ``numbers``, ``aspect``,
        ``image`` (panel d changed), ``no_image`` (exposure number out of
        range), ``minmax``, ``zscale``, ``continue``, ``stop``; ``None`` for
        keys left to matplotlib.
        """
        simple = {"?": "help", "i": "info", "&": "list", ",": "minmax", "/": "zscale"}
        if key in simple:
            return simple[key]
        if key in ("c", "x"):
            if self.decision is None:
                self.decision = "continue" if key == "c" else "stop"
            return "continue" if key == "c" else "stop"
        if key == "n":
            self.numbers = not self.numbers
            return "numbers"
        if key == "a":
            self.aspect = "auto" if self.aspect == "equal" else "equal"
            return "aspect"
        if key == "t":
            self.image = (self.image + 1) % (self.n_frames + 1)
            return "image"
        if key is not None and len(key) == 1 and key.isdigit():
            k = int(key)
            if k > self.n_frames:
                return "no_image"
            self.image = k
            return "image"
        return None
