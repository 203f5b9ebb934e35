"""Terminal dialogues of the interactive review, as functions of an ``ask`` callable.

Nothing here touches matplotlib: every dialogue reads answers through a
:class:`Terminal` (which wraps the ``ask`` and ``echo`` callables given to the
reviewer) and returns plain Python values, so tests can drive them with a
scripted list of answers.  Prompts follow the wording of the numina user guide
("Removing CR in multiple exposures", Example 2): the current value is shown in
brackets, RETURN accepts it, and an invalid answer prints a message and asks
again.

Units: diagram coordinates and fixed points are in ADU (electrons for MEGARA).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import UserStop

__all__ = [
    "DEFAULT_FIXED_POINT_WEIGHT",
    "Terminal",
    "ask_choice",
    "ask_float",
    "ask_int",
    "edit_fixed_points",
    "format_fixed_points",
    "normalise_fixed_points",
    "refit_dialog",
    "resimulate_dialog",
    "verify_answer",
]

logger = logging.getLogger("megara_crplugin.interactive")

#: Weight given to a fixed point when none is typed (the numina-crmasks guide says 1000).
DEFAULT_FIXED_POINT_WEIGHT = 10000.0

#: Values used when the configuration object lacks an attribute (recipe defaults).
_REFIT_DEFAULTS = {
    "mm_hist2d_min_neighbors": 0,
    "mm_boundary_fit": "spline",
    "mm_knots_splfit": 3,
    "mm_niter_boundary_extension": 3,
    "mm_weight_boundary_extension": 10.0,
}


@dataclass
class Terminal:
    """The operator's terminal: prompts through ``ask``, messages through ``echo``.

    Every message and every answered prompt is appended to ``transcript``
    (``prompt + answer``), which the command-line shell can save for
    ``--record``.  End of input (``EOFError``) is turned into
    :class:`~megara_crplugin.exceptions.UserStop`.
    """

    ask: Callable[[str], str]
    echo: Callable[[str], None]
    transcript: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        """Show one message (possibly several lines)."""
        self.transcript.append(text)
        self.echo(text)

    def prompt(self, text: str) -> str:
        """Ask one question; return the stripped answer."""
        try:
            answer = self.ask(text)
        except EOFError as exc:
            raise UserStop("end of input while waiting for an answer") from exc
        answer = "" if answer is None else str(answer)
        self.transcript.append(text + answer)
        logger.debug("answer: %s%s", text, answer)
        return answer.strip()


def _show(value: Any) -> str:
    """Format a current value for the ``[...]`` of a prompt."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(value)


def ask_int(
    term: Terminal,
    question: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """Ask for an integer in ``[minimum, maximum]``; RETURN gives ``default``."""
    text = f"{question} [{_show(default)}]: "
    while True:
        answer = term.prompt(text)
        if answer == "":
            return int(default)
        try:
            value = int(answer)
        except ValueError:
            value = None
        if value is not None and (minimum is None or value >= minimum):
            if maximum is None or value <= maximum:
                return value
        term.say(f"Invalid answer {answer!r}: {_int_rule(minimum, maximum)}.")


def _int_rule(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"expected an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"expected an integer >= {minimum}"
    return "expected an integer"


def ask_float(
    term: Terminal,
    question: str,
    default: float | None,
    *,
    check: Callable[[float], bool] = math.isfinite,
    rule: str = "expected a finite number",
) -> float:
    """Ask for a float accepted by ``check``; RETURN gives ``default`` (if any)."""
    text = f"{question} [{_show(default)}]: " if default is not None else f"{question}: "
    while True:
        answer = term.prompt(text)
        if answer == "" and default is not None:
            return float(default)
        try:
            value = float(answer)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and check(value):
            return value
        term.say(f"Invalid answer {answer!r}: {rule}.")


def ask_choice(term: Terminal, text: str, choices: Sequence[str], default: str) -> str:
    """Ask for one of ``choices`` (case-insensitive); RETURN gives ``default``.

    ``text`` is the full prompt, already showing the choices and the default.
    """
    lowered = [c.lower() for c in choices]
    while True:
        answer = term.prompt(text).lower()
        if answer == "":
            return default
        if answer in lowered:
            return choices[lowered.index(answer)]
        term.say(f"Invalid answer {answer!r}: expected one of {', '.join(choices)}.")


# --------------------------------------------------------------------------- fixed points


def normalise_fixed_points(points: Any) -> list[list[float]]:
    """Return fixed points as a list of ``[x, y, weight]`` floats (ADU, ADU, -).

    Accepts ``None``, an (k, 2) or (k, 3) array, or a list of ``[x, y]`` /
    ``[x, y, weight]`` items; missing weights become 10000.
    """
    if points is None:
        return []
    out = []
    for item in list(points):
        values = [float(v) for v in item]
        if len(values) == 2:
            values.append(DEFAULT_FIXED_POINT_WEIGHT)
        if len(values) != 3:
            raise ValueError(
                f"mm_fixed_points_in_boundary: each item must be [x, y] or [x, y, weight], "
                f"got {item!r}"
            )
        out.append(values)
    return out


def format_fixed_points(points: Sequence[Sequence[float]]) -> str:
    """Table of fixed points as printed by the editor (``number X Y Weight``)."""
    if not points:
        return "No fixed points in boundary."
    columns = [
        ["number"] + [str(i + 1) for i in range(len(points))],
        ["X"] + [str(float(p[0])) for p in points],
        ["Y"] + [str(float(p[1])) for p in points],
        ["Weight"] + [str(float(p[2])) for p in points],
    ]
    widths = [max(len(s) for s in col) for col in columns]
    header = " ".join(col[0].center(w) for col, w in zip(columns, widths, strict=True))
    rule = " ".join("-" * w for w in widths)
    rows = [
        " ".join(col[i].rjust(w) for col, w in zip(columns, widths, strict=True))
        for i in range(1, len(points) + 1)
    ]
    return "\n".join(["Current fixed points in boundary:", header.rstrip(), rule, *rows])


_MENU_EMPTY = "Type:\n- 'a' to add a fixed point\n- 'n' none (continue without additional changes)"
_MENU_FULL = (
    "Type:\n"
    "- 'a' to add a fixed point\n"
    "- 'c' to clear all fixed points\n"
    "- 'd' to delete an existing fixed point\n"
    "- 'e' to edit an existing fixed point\n"
    "- 'n' none (continue without additional changes)"
)


def _ask_point(term: Terminal, adjective: str, old: Sequence[float] | None) -> list[float]:
    x = ask_float(term, f"x value of {adjective} fixed point", None if old is None else old[0])
    y = ask_float(term, f"y value of {adjective} fixed point", None if old is None else old[1])
    w = ask_float(
        term,
        f"weight of {adjective} fixed point",
        DEFAULT_FIXED_POINT_WEIGHT if old is None else old[2],
        check=lambda v: v > 0,
        rule="expected a number greater than 0",
    )
    return [x, y, w]


def edit_fixed_points(
    term: Terminal, points: Sequence[Sequence[float]], *, minimum: int = 0
) -> list[list[float]]:
    """Run the fixed-point editor and return the new list of ``[x, y, weight]``.

    Parameters
    ----------
    term : Terminal
        Where questions are asked and messages shown.
    points : sequence of [x, y, weight]
        Current fixed points (x = min2d in ADU, y = median2d - min2d in ADU).
        The input is not modified.
    minimum : int, optional
        Minimum number of points accepted when leaving (2 for a piecewise
        boundary).  With fewer points the editor is entered without asking.

    Returns
    -------
    list of [float, float, float]
        The edited points, in the order they were entered.
    """
    pts = [list(map(float, p)) for p in points]
    term.say(format_fixed_points(pts))
    if len(pts) >= minimum:
        answer = ask_choice(
            term,
            "Do you want to modify the fixed points in the boundary? (y/[n]): ",
            ["y", "n"],
            "n",
        )
        if answer == "n":
            return pts
    else:
        term.say(f"A piecewise boundary needs at least {minimum} fixed points.")
    while True:
        if pts:
            term.say(_MENU_FULL)
            choice = ask_choice(term, "Your choice (a/c/d/e/[n]): ", list("acden"), "n")
        else:
            term.say(_MENU_EMPTY)
            choice = ask_choice(term, "Your choice (a/[n]): ", ["a", "n"], "n")
        if choice == "a":
            pts.append(_ask_point(term, "new", None))
        elif choice == "c":
            pts.clear()
            term.say("All fixed points removed.")
        elif choice in "de":
            action = "delete" if choice == "d" else "edit"
            k = ask_int(
                term,
                f"Number of the fixed point to {action} (1-{len(pts)})",
                len(pts),
                minimum=1,
                maximum=len(pts),
            )
            if choice == "d":
                del pts[k - 1]
            else:
                pts[k - 1] = _ask_point(term, "the", pts[k - 1])
        elif len(pts) < minimum:
            term.say(f"A piecewise boundary needs at least {minimum} fixed points.")
            continue
        else:
            term.say("No changes made to fixed points in boundary.")
            term.say(format_fixed_points(pts))
            return pts
        term.say(format_fixed_points(pts))


# --------------------------------------------------------------------------- refit / rerun


def refit_dialog(
    term: Terminal, config: Any, fixed_points: Sequence[Sequence[float]]
) -> dict[str, Any]:
    """Ask the boundary-fit parameters (key ``r`` of the MM diagram).

    Parameters
    ----------
    term : Terminal
        Where questions are asked.
    config : object
        Current configuration; attributes ``mm_hist2d_min_neighbors``,
        ``mm_boundary_fit``, ``mm_knots_splfit``, ``mm_niter_boundary_extension``
        and ``mm_weight_boundary_extension`` give the bracketed defaults.
    fixed_points : sequence of [x, y, weight]
        Fixed points of the current boundary (ADU, ADU, weight).

    Returns
    -------
    dict
        ``changes`` for ``BoundaryDecision('refit', changes)``: the six keys
        ``mm_hist2d_min_neighbors``, ``mm_boundary_fit``, ``mm_knots_splfit``,
        ``mm_niter_boundary_extension``, ``mm_weight_boundary_extension`` and
        ``mm_fixed_points_in_boundary`` (list of [x, y, weight] or None).
        For a piecewise boundary the knots/iterations/weight questions are
        skipped (they do not apply) and the current values are returned.
    """
    cur = {k: getattr(config, k, v) for k, v in _REFIT_DEFAULTS.items()}
    cur = {k: (_REFIT_DEFAULTS[k] if v is None else v) for k, v in cur.items()}
    changes: dict[str, Any] = dict(cur)
    changes["mm_hist2d_min_neighbors"] = ask_int(
        term,
        "Minimum number of neighbors to keep bins in the 2D histogram (0-8)",
        cur["mm_hist2d_min_neighbors"],
        minimum=0,
        maximum=8,
    )
    fit = ask_choice(
        term,
        f"Type of boundary fit: piecewise or spline [{cur['mm_boundary_fit']}]: ",
        ["piecewise", "spline"],
        cur["mm_boundary_fit"],
    )
    changes["mm_boundary_fit"] = fit
    if fit == "spline":
        changes["mm_knots_splfit"] = ask_int(
            term,
            "Number of knots for spline boundary fit (min. 2)",
            cur["mm_knots_splfit"],
            minimum=2,
        )
        changes["mm_niter_boundary_extension"] = ask_int(
            term,
            "Number of iterations for boundary extension (min. 0)",
            cur["mm_niter_boundary_extension"],
            minimum=0,
        )
        changes["mm_weight_boundary_extension"] = ask_float(
            term,
            "Weight for boundary extension (greater than 1.0)",
            cur["mm_weight_boundary_extension"],
            check=lambda v: v >= 1.0,
            rule="expected a number >= 1.0",
        )
    minimum = 2 if fit == "piecewise" else 0
    points = edit_fixed_points(term, fixed_points, minimum=minimum)
    changes["mm_fixed_points_in_boundary"] = points or None
    return changes


def resimulate_dialog(term: Terminal, histogram: Any, config: Any) -> dict[str, Any]:
    """Ask the simulation parameters (key ``m`` of the MM diagram).

    Parameters
    ----------
    term : Terminal
        Where questions are asked.
    histogram : SimulatedHistogram
        Current simulations: ``distribution``, ``nbinom_shape``,
        ``nsimulations`` and the bin edges (ADU) give the defaults.
    config : object
        Fallback for ``mm_nbinom_shape`` when the histogram has none.

    Returns
    -------
    dict
        ``changes`` for ``BoundaryDecision('resimulate', changes)``:
        ``mm_photon_distribution``, ``mm_nbinom_shape``, ``xdiag_min``,
        ``xdiag_max``, ``ydiag_max`` (ADU) and ``mm_nsimulations``.  The
        negative-binomial shape is only asked for ``nbinom``.
    """
    shape = histogram.nbinom_shape
    if shape is None:
        shape = getattr(config, "mm_nbinom_shape", None) or 1000.0
    distribution = ask_choice(
        term,
        f"Photon distribution: poisson or nbinom [{histogram.distribution}]: ",
        ["poisson", "nbinom"],
        histogram.distribution,
    )
    if distribution == "nbinom":
        shape = ask_float(
            term,
            "Shape parameter of the negative binomial distribution (greater than 0)",
            shape,
            check=lambda v: v > 0,
            rule="expected a number greater than 0",
        )
    xmin = ask_float(term, "xdiag_min: minimum min2d in the diagram", float(histogram.xedges[0]))
    xmax = ask_float(
        term,
        f"xdiag_max: maximum min2d in the diagram (greater than {_show(xmin)})",
        float(histogram.xedges[-1]),
        check=lambda v: v > xmin,
        rule=f"expected a number greater than {_show(xmin)}",
    )
    ymax = ask_float(
        term,
        "ydiag_max: maximum median2d - min2d in the diagram (greater than 0)",
        float(histogram.yedges[-1]),
        check=lambda v: v > 0,
        rule="expected a number greater than 0",
    )
    nsim = ask_int(term, "Number of simulations (min. 1)", int(histogram.nsimulations), minimum=1)
    return {
        "mm_photon_distribution": distribution,
        "mm_nbinom_shape": float(shape),
        "xdiag_min": xmin,
        "xdiag_max": xmax,
        "ydiag_max": ymax,
        "mm_nsimulations": nsim,
    }


# --------------------------------------------------------------------------- verify_cr


def verify_answer(term: Terminal, question: str) -> str:
    """Ask ``[Y]es / n(o) / a(ll) / s(top)`` and return ``'y'``, ``'n'``, ``'a'`` or ``'s'``."""
    answers = {"y": "y", "yes": "y", "n": "n", "no": "n", "a": "a", "all": "a"}
    answers.update({"s": "s", "stop": "s"})
    text = f"{question} ([Y]es / n(o) / a(ll) / s(top)): "
    while True:
        answer = term.prompt(text).lower()
        if answer == "":
            return "y"
        if answer in answers:
            return answers[answer]
        term.say(f"Invalid answer {answer!r}: expected y, n, a or s.")
