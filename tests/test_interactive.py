"""Tests of the interactive review (megara_crplugin.interactive), without a display.

Figures are stand-alone Agg figures; the ``show`` callable given to the reviewer
sends synthetic matplotlib key events to them, and ``ask`` answers from a script.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.backend_bases import KeyEvent
from scipy import ndimage

from megara_crplugin.exceptions import UserStop
from megara_crplugin.hooks import BoundaryDecision
from megara_crplugin.interactive import (
    HISTOGRAM_HELP,
    MEDIANCR_HELP,
    InteractiveReviewer,
    _display,
    display_available,
)
from megara_crplugin.interactive import _dialogs as dlg
from megara_crplugin.interactive import _figures as figs
from megara_crplugin.interactive._keys import HistogramKeys, MediancrKeys
from megara_crplugin.result import (
    CRMaskResult,
    Feature,
    SimulatedHistogram,
    StackStatistics,
    TargetDetection,
)

# --------------------------------------------------------------------------- helpers


class Script:
    """``ask`` replacement answering from a list; records the prompts."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise AssertionError(f"unexpected question: {prompt!r}")
        return self.answers.pop(0)


def terminal(*answers: str) -> tuple[dlg.Terminal, list[str]]:
    said: list[str] = []
    return dlg.Terminal(ask=Script(*answers), echo=said.append), said


def press(fig, key: str, *, ax=None, xy=(0.0, 0.0)) -> None:
    """Send one key press to ``fig`` (at data coordinates ``xy`` of ``ax`` if given)."""
    x, y = (0.0, 0.0) if ax is None else ax.transData.transform(xy)
    event = KeyEvent("key_press_event", fig.canvas, key, x=x, y=y)
    fig.canvas.callbacks.process("key_press_event", event)


def key_show(*keys, shown=None):
    """``show`` replacement: press ``keys`` (str or callable(fig)) on the figure."""

    def show(fig):
        if shown is not None:
            shown.append(fig)
        for key in keys:
            key(fig) if callable(key) else press(fig, key)

    return show


class LineBoundary:
    """Boundary-like object: straight line, constant outside [xmin, xmax]."""

    kind = "spline"

    def __init__(self, xmin: float, xmax: float) -> None:
        self.xmin, self.xmax = xmin, xmax
        self.points_x = np.linspace(xmin, xmax, 10)
        self.points_y = 30.0 + 0.1 * (self.points_x - xmin)
        self.fixed_points = np.zeros((0, 3))
        self.knots = np.linspace(xmin, xmax, 3)
        self.iterations = [lambda x, k=k: 28.0 + k + 0.1 * (np.asarray(x) - xmin) for k in range(8)]

    def __call__(self, x):
        x = np.clip(np.asarray(x, dtype=float), self.xmin, self.xmax)
        return 30.0 + 0.1 * (x - self.xmin)


HITS = (
    (10, 12, 4),
    (10, 13, 2),
    (25, 30, 3),
    (33, 8, 2),
    (4, 40, 3),
)  # (y, x, code) before dilation


def make_result(*, mm: bool = True, shape=(40, 50)) -> CRMaskResult:
    """Seeded 3-exposure stack with five hand-placed two-exposure hits."""
    rng = np.random.default_rng(7)
    ny, nx = shape
    stack = rng.normal(50.0, 4.0, size=(3, ny, nx)).astype(np.float32)
    code = np.zeros(shape, dtype=np.uint8)
    for y, x, c in HITS:
        stack[:2, y, x] += 500.0
        code[y, x] = c if mm else 3
    dilated = ndimage.binary_dilation(code > 0, structure=np.ones((3, 3), bool))
    code[dilated & (code == 0)] = 1
    srt = np.sort(stack, axis=0)
    stats = StackStatistics(stack, srt[0], srt[-1], srt[1], stack.mean(axis=0))
    labels, n = ndimage.label(code > 0, structure=np.ones((3, 3), bool))
    features = []
    for lab in range(1, n + 1):
        ys, xs = np.nonzero(labels == lab)
        features.append(Feature(lab, "any4", ys, xs, code[ys, xs], float(-lab)))
    mask = code > 0
    target = TargetDetection("MEDIANCR", stats.median2d, code == 3, code == 2, code, mask)
    boundary = LineBoundary(float(srt[0].min()), float(srt[0].max())) if mm else None
    histogram = None
    if mm:
        xedges = np.linspace(float(srt[0].min()), float(srt[0].max()), 11)
        yedges = np.linspace(0.0, 60.0, 11)
        counts = rng.poisson(5.0, size=(10, 10)).astype(float)
        histogram = SimulatedHistogram(counts, counts * 2, xedges, yedges, 10, "poisson")
    config = SimpleNamespace(
        semiwindow=5, maxplots=-1, crmethod="mm_lacosmic" if mm else "lacosmic"
    )
    return CRMaskResult(
        config=config,
        uuid="u",
        flux_factors=np.ones(3),
        mm_threshold=5.0,
        stats=stats,
        targets={"MEDIANCR": target},
        features=features,
        problematic=np.zeros(shape, bool),
        histogram=histogram,
        boundary=boundary,
    )


CONFIG = SimpleNamespace(
    mm_hist2d_min_neighbors=0,
    mm_boundary_fit="spline",
    mm_knots_splfit=5,
    mm_niter_boundary_extension=5,
    mm_weight_boundary_extension=2,
    mm_fixed_points_in_boundary=(),
    mm_nbinom_shape=1000.0,
)

# --------------------------------------------------------------------------- dialogues

SEED_EXAMPLE2 = """\
Minimum number of neighbors to keep bins in the 2D histogram (0-8) [0]:
Type of boundary fit: piecewise or spline [spline]: spline
Number of knots for spline boundary fit (min. 2) [5]:
Number of iterations for boundary extension (min. 0) [5]:
Weight for boundary extension (greater than 1.0) [2]:
No fixed points in boundary.
Do you want to modify the fixed points in the boundary? (y/[n]): y
Type:
- 'a' to add a fixed point
- 'n' none (continue without additional changes)
Your choice (a/[n]): a
x value of new fixed point: 50
y value of new fixed point: 60
weight of new fixed point [10000.0]:
Current fixed points in boundary:
number  X    Y    Weight
------ ---- ---- -------
     1 50.0 60.0 10000.0
Type:
- 'a' to add a fixed point
- 'c' to clear all fixed points
- 'd' to delete an existing fixed point
- 'e' to edit an existing fixed point
- 'n' none (continue without additional changes)
Your choice (a/c/d/e/[n]): a
x value of new fixed point: 150
y value of new fixed point: 80
weight of new fixed point [10000.0]:
Current fixed points in boundary:
number   X    Y    Weight
------ ----- ---- -------
     1  50.0 60.0 10000.0
     2 150.0 80.0 10000.0
Type:
- 'a' to add a fixed point
- 'c' to clear all fixed points
- 'd' to delete an existing fixed point
- 'e' to edit an existing fixed point
- 'n' none (continue without additional changes)
Your choice (a/c/d/e/[n]): n
No changes made to fixed points in boundary.
Current fixed points in boundary:
number   X    Y    Weight
------ ----- ---- -------
     1  50.0 60.0 10000.0
     2 150.0 80.0 10000.0"""


class TestRefitDialog:
    def test_reproduces_user_guide_example_2(self):
        """The dialogue of the numina guide, Example 2, word for word."""
        answers = ["", "spline", "", "", "", "y", "a", "50", "60", "", "a", "150", "80", ""]
        term, _ = terminal(*answers, "n")
        changes = dlg.refit_dialog(term, CONFIG, [])
        lines = "\n".join(term.transcript).splitlines()
        assert [line.rstrip() for line in lines] == SEED_EXAMPLE2.splitlines()
        assert term.ask.prompts[0].endswith("(0-8) [0]: ")
        assert changes == {
            "mm_hist2d_min_neighbors": 0,
            "mm_boundary_fit": "spline",
            "mm_knots_splfit": 5,
            "mm_niter_boundary_extension": 5,
            "mm_weight_boundary_extension": 2.0,
            "mm_fixed_points_in_boundary": [[50.0, 60.0, 10000.0], [150.0, 80.0, 10000.0]],
        }

    def test_invalid_answers_are_asked_again(self):
        """Out-of-range or malformed answers print a message and repeat the question."""
        term, said = terminal("9", "six", "6", "cubic", "", "1", "6", "-1", "3", "0.5", "4", "")
        changes = dlg.refit_dialog(term, CONFIG, [])
        assert changes["mm_hist2d_min_neighbors"] == 6
        assert changes["mm_knots_splfit"] == 6
        assert changes["mm_niter_boundary_extension"] == 3
        assert changes["mm_weight_boundary_extension"] == 4.0
        assert changes["mm_fixed_points_in_boundary"] is None
        assert said.count("Invalid answer '9': expected an integer from 0 to 8.") == 1
        assert "Invalid answer 'six': expected an integer from 0 to 8." in said
        assert "Invalid answer 'cubic': expected one of piecewise, spline." in said
        assert "Invalid answer '1': expected an integer >= 2." in said
        assert "Invalid answer '0.5': expected a number >= 1.0." in said

    def test_piecewise_insists_on_two_points(self):
        """Piecewise skips the spline questions and refuses to leave with < 2 points."""
        term, said = terminal("", "piecewise", "a", "0", "30", "", "n", "a", "50", "60", "5", "")
        changes = dlg.refit_dialog(term, CONFIG, [])
        assert changes["mm_boundary_fit"] == "piecewise"
        assert changes["mm_knots_splfit"] == 5  # unchanged, not asked
        assert changes["mm_fixed_points_in_boundary"] == [[0.0, 30.0, 10000.0], [50.0, 60.0, 5.0]]
        assert said.count("A piecewise boundary needs at least 2 fixed points.") == 2
        assert not any("Number of knots" in p for p in term.ask.prompts)


class TestFixedPointEditor:
    POINTS = [[50.0, 60.0, 10000.0], [150.0, 80.0, 10000.0], [300.0, 90.0, 10.0]]

    def test_delete_and_edit(self):
        """'d' removes the chosen point, 'e' edits it with the old values as defaults."""
        term, _ = terminal("y", "d", "2", "e", "1", "", "65", "", "n")
        out = dlg.edit_fixed_points(term, self.POINTS)
        assert out == [[50.0, 65.0, 10000.0], [300.0, 90.0, 10.0]]
        assert "y value of the fixed point [60.0]: " in term.ask.prompts
        assert "Number of the fixed point to delete (1-3) [3]: " in term.ask.prompts
        assert self.POINTS[1] == [150.0, 80.0, 10000.0]  # input not modified

    def test_clear_then_leave(self):
        """'c' empties the list; after clearing only 'a'/'n' are offered."""
        term, said = terminal("y", "c", "n")
        assert dlg.edit_fixed_points(term, self.POINTS) == []
        assert term.ask.prompts[-1] == "Your choice (a/[n]): "
        assert "All fixed points removed." in said

    def test_keep_without_editing(self):
        """Answering 'n' (or RETURN) to the first question keeps the points."""
        term, said = terminal("")
        assert dlg.edit_fixed_points(term, self.POINTS) == self.POINTS
        assert said[0].startswith("Current fixed points in boundary:\nnumber   X    Y")

    def test_weight_must_be_positive(self):
        term, said = terminal("y", "a", "1", "2", "0", "7", "n")
        assert dlg.edit_fixed_points(term, [])[-1] == [1.0, 2.0, 7.0]
        assert "Invalid answer '0': expected a number greater than 0." in said

    def test_normalise(self):
        assert dlg.normalise_fixed_points([(1, 2), (3, 4, 5)]) == [
            [1.0, 2.0, 10000.0],
            [3.0, 4.0, 5.0],
        ]
        assert dlg.normalise_fixed_points(None) == []
        with pytest.raises(ValueError, match=r"mm_fixed_points_in_boundary: each item"):
            dlg.normalise_fixed_points([(1, 2, 3, 4)])


class TestResimulateDialog:
    def test_nbinom_and_limits(self):
        """All six changes; xdiag_max must exceed xdiag_min; RETURN keeps the current value."""
        hist = make_result().histogram
        term, said = terminal("nbinom", "-3", "25", "", "-100", "400", "", "20")
        changes = dlg.resimulate_dialog(term, hist, CONFIG)
        assert changes == {
            "mm_photon_distribution": "nbinom",
            "mm_nbinom_shape": 25.0,
            "xdiag_min": float(hist.xedges[0]),
            "xdiag_max": 400.0,
            "ydiag_max": 60.0,
            "mm_nsimulations": 20,
        }
        assert "Invalid answer '-3': expected a number greater than 0." in said
        assert any(
            s.startswith("Invalid answer '-100': expected a number greater than") for s in said
        )

    def test_poisson_does_not_ask_shape(self):
        hist = make_result().histogram
        term, _ = terminal("", "", "", "", "")
        changes = dlg.resimulate_dialog(term, hist, CONFIG)
        assert changes["mm_photon_distribution"] == "poisson"
        assert changes["mm_nbinom_shape"] == 1000.0
        assert not any("negative binomial" in p for p in term.ask.prompts)


def test_verify_answer_variants():
    term, said = terminal("", "NO", "all", "s", "maybe", "y")
    assert [dlg.verify_answer(term, "Q?") for _ in range(5)] == ["y", "n", "a", "s", "y"]
    assert term.ask.prompts[0] == "Q? ([Y]es / n(o) / a(ll) / s(top)): "
    assert "Invalid answer 'maybe': expected y, n, a or s." in said


def test_end_of_input_stops():
    def eof(_prompt):
        raise EOFError

    term = dlg.Terminal(ask=eof, echo=lambda s: None)
    with pytest.raises(UserStop, match="end of input"):
        dlg.ask_int(term, "n", 1)


# --------------------------------------------------------------------------- key machines


def test_histogram_keys_first_decision_wins():
    keys = HistogramKeys()
    assert keys.press("?") == "help"
    assert keys.press("z") is None
    assert keys.press("r") == "refit"
    assert keys.press("c") == "continue"
    assert keys.decision == "refit"
    assert HistogramKeys().press("m") == "resimulate"


def test_mediancr_keys_cycle_exposures():
    keys = MediancrKeys(n_frames=3)
    assert [keys.press("t") or keys.image for _ in range(4)] == ["image"] * 4
    assert keys.image == 0  # mean2d -> 1 -> 2 -> 3 -> mean2d
    assert keys.press("2") == "image" and keys.image == 2
    assert keys.press("7") == "no_image" and keys.image == 2
    assert keys.press("0") == "image" and keys.image == 0
    assert keys.press("a") == "aspect" and keys.aspect == "auto"
    assert keys.press("n") == "numbers" and keys.numbers
    assert keys.press("h") is None  # left to matplotlib (home)


# --------------------------------------------------------------------------- MM diagram figure


class TestReviewBoundary:
    def setup_method(self):
        self.result = make_result()
        self.args = (self.result.histogram, self.result.boundary, self.result.stats, CONFIG)

    def test_continue(self, tmp_path):
        """'c' continues; the figure is saved in output_dir; '?' prints the help."""
        said: list[str] = []
        reviewer = InteractiveReviewer(
            ask=Script(), echo=said.append, show=key_show("?", "c"), output_dir=tmp_path
        )
        assert reviewer.review_boundary(*self.args) == BoundaryDecision("continue")
        assert HISTOGRAM_HELP in said
        assert "'m': close the plot and repeat the simulations" in HISTOGRAM_HELP
        assert (tmp_path / "diagnostic_histogram2d.png").stat().st_size > 1000
        assert [p.name for p in tmp_path.iterdir()] == ["diagnostic_histogram2d.png"]

    def test_window_closed_without_key_continues(self):
        reviewer = InteractiveReviewer(ask=Script(), echo=lambda s: None, show=key_show("z"))
        assert reviewer.review_boundary(*self.args).action == "continue"

    def test_stop(self):
        reviewer = InteractiveReviewer(ask=Script(), echo=lambda s: None, show=key_show("x"))
        with pytest.raises(UserStop, match=r"key 'x' on the MM diagram"):
            reviewer.review_boundary(*self.args)

    def test_resimulate_with_new_nbinom_shape(self):
        answers = Script("nbinom", "50", "", "", "", "")
        reviewer = InteractiveReviewer(ask=answers, echo=lambda s: None, show=key_show("m"))
        decision = reviewer.review_boundary(*self.args)
        assert decision.action == "resimulate"
        assert decision.changes["mm_photon_distribution"] == "nbinom"
        assert decision.changes["mm_nbinom_shape"] == 50.0
        assert decision.changes["mm_nsimulations"] == 10

    def test_refit_with_fixed_point_moves_boundary(self):
        """'r' + a fixed point far above the crosses: the refitted boundary goes through it."""
        boundary_mod = pytest.importorskip("megara_crplugin.boundary")
        rng = np.random.default_rng(3)
        px = np.linspace(0.0, 1000.0, 40)
        py = 20.0 + 0.05 * px + rng.normal(0, 0.5, px.size)
        base = boundary_mod.fit_boundary(px, py, n_knots=3, niter=2, weight=10.0)
        hist = self.result.histogram
        answers = Script("", "", "", "", "", "y", "a", "500", "200", "", "n")
        reviewer = InteractiveReviewer(ask=answers, echo=lambda s: None, show=key_show("r"))
        decision = reviewer.review_boundary(hist, base, self.result.stats, CONFIG)
        assert decision.action == "refit"
        ch = decision.changes
        assert ch["mm_fixed_points_in_boundary"] == [[500.0, 200.0, 10000.0]]
        refit = boundary_mod.fit_boundary(
            px,
            py,
            kind=ch["mm_boundary_fit"],
            n_knots=ch["mm_knots_splfit"],
            niter=ch["mm_niter_boundary_extension"],
            weight=ch["mm_weight_boundary_extension"],
            fixed_points=np.array(ch["mm_fixed_points_in_boundary"]),
        )
        assert float(base(np.array([500.0]))[0]) == pytest.approx(45.0, abs=3.0)
        assert float(refit(np.array([500.0]))[0]) == pytest.approx(200.0, abs=5.0)

    def test_refit_starts_from_current_fixed_points(self):
        boundary = self.result.boundary
        boundary.fixed_points = np.array([[10.0, 40.0, 100.0]])
        answers = Script("", "", "", "", "", "")
        reviewer = InteractiveReviewer(ask=answers, echo=lambda s: None, show=key_show("r"))
        decision = reviewer.review_boundary(*self.args)
        assert decision.changes["mm_fixed_points_in_boundary"] == [[10.0, 40.0, 100.0]]

    def test_bad_output_dir(self, tmp_path):
        with pytest.raises(ValueError, match=r"output_dir: '.*nowhere' is not an existing"):
            InteractiveReviewer(output_dir=tmp_path / "nowhere")


# --------------------------------------------------------------------------- MEDIANCR figure


class TestReviewMediancr:
    def test_keys_change_the_figure(self):
        """t/1/0 switch panel (d); a toggles aspect; n numbers; , and / set limits."""
        result = make_result()
        said: list[str] = []
        seen = {}

        def check(fig):
            ax_c, ax_d = fig.axes[2], fig.axes[3]
            image_d = ax_d.images[-1]
            press(fig, "t")
            seen["t"] = (
                np.array_equal(image_d.get_array(), result.stats.stack[0]),
                ax_d.get_title(),
            )
            press(fig, "3")
            seen["3"] = np.array_equal(image_d.get_array(), result.stats.stack[2])
            press(fig, "0")
            seen["0"] = np.array_equal(image_d.get_array(), result.stats.mean2d)
            press(fig, "a")
            seen["aspect"] = ax_c.get_aspect()
            ax_c.set_xlim(5.5, 20.5)
            ax_c.set_ylim(5.5, 15.5)
            press(fig, ",")
            seen["minmax"] = ax_c.images[-1].get_clim()
            press(fig, "/")
            seen["zscale"] = ax_c.images[-1].get_clim()
            press(fig, "n")
            seen["texts_c"] = len(ax_c.texts)
            press(fig, "&")
            press(fig, "i", ax=ax_c, xy=(13.0, 11.0))
            press(fig, "i", ax=fig.axes[0], xy=(0.0, 0.0))
            press(fig, "?")
            press(fig, "c")

        reviewer = InteractiveReviewer(ask=Script(), echo=said.append, show=check)
        assert reviewer.review_mediancr(result) is None
        assert seen["t"] == (True, "(d) exposure 1")
        assert seen["3"] and seen["0"]
        assert seen["aspect"] == "auto"
        region = result.stats.median2d[5:15, 5:20]
        assert seen["minmax"] == pytest.approx((region.min(), region.max()))
        assert seen["zscale"] != seen["minmax"]
        assert seen["texts_c"] == 5  # the five suspected pixels, numbered
        listing = next(s for s in said if s.startswith("CR pixels within"))
        assert listing.splitlines()[0].endswith(": 12")  # 2 hits + their dilation ring
        assert "     1    13    11    4       2" in listing
        info = next(s for s in said if s.startswith("Pixel (X, Y) = (13, 11)"))
        assert "MEDIANCR code = 4 (feature #2)" in info
        assert "Press 'i' with the mouse over panel (c) or (d)." in said
        assert MEDIANCR_HELP in said

    def test_zoom_in_panel_a_filters_panel_c(self):
        """Zooming the MM diagram keeps only the pixels inside the zoom in panel (c)."""
        result = make_result()
        counts = {}

        def zoom(fig):
            ax_a, ax_c = fig.axes[0], fig.axes[2]
            counts["start"] = marked(ax_c)
            ax_a.set_xlim(-1e6, 1e6)
            ax_a.set_ylim(100.0, 1e6)  # only the five hits (median - min ~ 500 ADU)
            counts["hits"] = marked(ax_c)
            ax_a.set_ylim(-1e6, -1e5)
            counts["none"] = marked(ax_c)
            press(fig, "c")

        def marked(ax):
            return sum(len(c.get_offsets()) for c in ax.collections if c.get_visible())

        InteractiveReviewer(ask=Script(), echo=lambda s: None, show=zoom).review_mediancr(result)
        n_flagged = int(np.count_nonzero(result.targets["MEDIANCR"].code))
        assert counts == {"start": n_flagged, "hits": 5, "none": 0}

    def test_stop(self):
        reviewer = InteractiveReviewer(ask=Script(), echo=lambda s: None, show=key_show("x"))
        with pytest.raises(UserStop, match="MEDIANCR figure"):
            reviewer.review_mediancr(make_result())

    def test_aux_only_result_without_boundary(self):
        """Aux-only crmethods have no boundary/histogram: the figure still works (defect 4)."""
        shown = []
        show = key_show("t", "c", shown=shown)
        result = make_result(mm=False)
        InteractiveReviewer(ask=Script(), echo=lambda s: None, show=show).review_mediancr(result)
        (fig,) = shown
        diagram, image, reference = fig.axes[0], fig.axes[2], fig.axes[3]
        assert not diagram.lines  # no boundary (nor threshold line) to draw
        assert reference.get_title() == "(d) exposure 1"  # key 't' still handled
        code = result.targets["MEDIANCR"].code
        marked = [len(c.get_offsets()) for c in image.collections if c.get_visible()]
        assert sum(marked) == np.count_nonzero(code)  # every flagged pixel is marked


# --------------------------------------------------------------------------- verify_cr


class TestVerifyFeatures:
    def test_reject_one_then_accept_all(self):
        """y keeps, n rejects, a accepts the rest without showing them."""
        result = make_result()
        shown: list = []
        reviewer = InteractiveReviewer(
            ask=Script("", "n", "a"), echo=lambda s: None, show=key_show(shown=shown)
        )
        rejected = reviewer.verify_features(result, result.features)
        assert rejected == {2}
        assert len(shown) == 3 < len(result.features)
        assert "CR#1 (1/4, any4" in reviewer.transcript[0]

    def test_stop(self):
        result = make_result()
        reviewer = InteractiveReviewer(ask=Script("s"), echo=lambda s: None, show=key_show())
        with pytest.raises(UserStop, match="verifying MEDIANCR"):
            reviewer.verify_features(result, result.features)


# --------------------------------------------------------------------------- pure helpers


def test_zoom_clim_and_pixel_info():
    image = np.arange(100.0).reshape(10, 10)
    assert figs.zoom_clim(image, (0.5, 3.5), (0.5, 2.5), "minmax") == (0.0, 12.0)
    assert figs.pixel_info(make_result(), 99, 1).endswith("is outside the image (50 x 40).")


# --------------------------------------------------------------------------- display


class TestDisplayAvailable:
    @pytest.fixture
    def env(self, monkeypatch):
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.setattr(_display.sys, "platform", "linux")
        return monkeypatch

    def test_agg_never(self, env):
        env.setattr(_display, "_configured_backend", lambda: "agg")
        env.setenv("DISPLAY", ":0")
        assert display_available() is False

    def test_gui_backend_needs_a_screen_on_linux(self, env):
        env.setattr(_display, "_configured_backend", lambda: "qtagg")
        assert display_available() is False
        env.setenv("WAYLAND_DISPLAY", "wayland-0")
        assert display_available() is True

    def test_automatic_backend_needs_a_toolkit(self, env):
        env.setattr(_display, "_configured_backend", lambda: None)
        env.setenv("DISPLAY", ":0")
        env.setattr(_display.importlib.util, "find_spec", lambda name: None)
        assert display_available() is False
        env.setattr(_display.importlib.util, "find_spec", lambda name: name == "tkinter")
        assert display_available() is True

    def test_macos_and_notebook(self, env):
        env.setattr(_display, "_configured_backend", lambda: "macosx")
        env.setattr(_display.sys, "platform", "darwin")
        assert display_available() is True
        env.setattr(
            _display, "_configured_backend", lambda: "module://matplotlib_inline.backend_inline"
        )
        assert display_available() is False

    def test_this_session_has_no_display(self):
        """The test machine is headless (Agg): the CLI must fall back."""
        import os

        if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            pytest.skip("a display is available here")
        assert display_available() is False


def test_import_leaves_matplotlib_alone():
    """Importing the package neither imports pyplot nor edits rcParams keymaps."""
    code = (
        "import sys, matplotlib as mpl\n"
        "keys = [k for k in mpl.rcParams.keys() if k.startswith('keymap')]\n"
        "before = {k: list(mpl.rcParams[k]) for k in keys}\n"
        "import megara_crplugin.interactive as m\n"
        "m.display_available()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "after = {k: list(mpl.rcParams[k]) for k in keys}\n"
        "assert before == after and 'c' in after['keymap.back']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- end to end


def scripted_show(*per_call):
    """``show`` replacement pressing ``per_call[k]`` keys on the k-th figure (none after)."""
    calls = iter(per_call)

    def show(fig):
        for key in next(calls, ()):
            press(fig, key)

    return show


@pytest.fixture(scope="module")
def triplet():
    """Small MEGARA-like triplet with six designed double hits (seeded)."""
    synthetic = pytest.importorskip("megara_crplugin.synthetic")
    pipeline = pytest.importorskip("megara_crplugin.pipeline")
    sset = synthetic.make_megara_like_frames((120, 160), seed=3, n_double_hits=6)
    params = {
        "gain": 1.0,
        "rnoise": 3.4,
        "bias": 0.0,
        "crmethod": "mmcosmic",
        "apply_flux_factor_to": "simulated",
        "mm_seed": 1234,
        "dilation": 1,
        "interactive": False,
    }
    return pipeline.compute_crmasks, list(sset.frames), params


class TestEndToEnd:
    def test_refit_with_fixed_point_equals_batch_run(self, triplet):
        """'r' + fixed point (100, 300): the boundary goes through it, as in a batch run."""
        compute, frames, params = triplet
        first = compute(frames, params)
        answers = Script("", "", "", "", "", "y", "a", "100", "300", "", "n")
        reviewer = InteractiveReviewer(ask=answers, echo=lambda s: None, show=scripted_show("r"))
        result = compute(frames, {**params, "interactive": True}, reviewer=reviewer)
        batch = compute(frames, {**params, "mm_fixed_points_in_boundary": [[100, 300]]})
        at = np.array([100.0])
        assert float(first.boundary(at)[0]) < 150.0
        assert float(result.boundary(at)[0]) == pytest.approx(300.0, abs=10.0)
        assert np.array_equal(result.boundary.fixed_points, [[100.0, 300.0, 10000.0]])
        xs = np.linspace(0.0, 5000.0, 50)
        np.testing.assert_allclose(result.boundary(xs), batch.boundary(xs))
        assert np.array_equal(result.targets["MEDIANCR"].mask, batch.targets["MEDIANCR"].mask)
        assert answers.answers == []

    def test_resimulate_with_nbinom_shape(self, triplet):
        """'m' + nbinom shape 5: new simulations, wider noise, higher boundary."""
        compute, frames, params = triplet
        first = compute(frames, params)
        answers = Script("nbinom", "5", "", "", "", "")
        reviewer = InteractiveReviewer(ask=answers, echo=lambda s: None, show=scripted_show("m"))
        result = compute(frames, {**params, "interactive": True}, reviewer=reviewer)
        hist = result.histogram
        assert (hist.distribution, hist.nbinom_shape) == ("nbinom", 5.0)
        assert first.histogram.distribution == "poisson"
        np.testing.assert_allclose(hist.xedges[[0, -1]], first.histogram.xedges[[0, -1]])
        at = np.array([500.0])
        assert float(result.boundary(at)[0]) > 1.5 * float(first.boundary(at)[0])

    def test_verify_cr_rejection_removes_exactly_the_feature(self, triplet):
        """Rejecting feature #1 removes its pixels from MEDIANCR and nothing else."""
        compute, frames, params = triplet
        batch = compute(frames, params)
        assert len(batch.features) >= 2
        reviewer = InteractiveReviewer(ask=Script("n", "a"), echo=lambda s: None, show=key_show())
        verified = {**params, "interactive": True, "verify_cr": True}
        result = compute(frames, verified, reviewer=reviewer)
        expected = batch.targets["MEDIANCR"].mask.copy()
        gone = batch.features[0]
        expected[gone.ys, gone.xs] = False
        assert np.array_equal(result.targets["MEDIANCR"].mask, expected)
        assert [f.number for f in result.features] == [f.number for f in batch.features[1:]]

    def test_stop_from_the_mm_diagram(self, triplet):
        compute, frames, params = triplet
        reviewer = InteractiveReviewer(ask=Script(), echo=lambda s: None, show=scripted_show("x"))
        with pytest.raises(UserStop, match="MM diagram"):
            compute(frames, {**params, "interactive": True}, reviewer=reviewer)


def test_pyplot_figure_keeps_standard_keys_except_ours():
    """On a pyplot-managed figure, unused keys still reach matplotlib ('l' = log y)."""
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = figs.new_figure((4, 3), managed=True)
    try:
        ax = fig.add_subplot()
        ax.plot([1, 2, 3], [1, 10, 100])
        ax.set(xlim=(0, 4), ylim=(0.5, 200))
        used = []
        figs.route_keys(fig, lambda event: used.append(event.key) or event.key == "c")
        press(fig, "l", ax=ax, xy=(2, 10))
        press(fig, "c", ax=ax, xy=(2, 10))
        assert ax.get_yscale() == "log"
        assert used == ["l", "c"]
    finally:
        plt.close(fig)
