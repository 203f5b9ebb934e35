"""Figure geometry: what is drawn sits where the histogram says it is.

The MM diagram's columns are uniform in the noise-stabilised coordinate, not
in ADU.  An ``imshow`` over a linear extent (the defect of issue 12) moves a
pixel at about 60 e- to about 250 on the axis; these tests read the drawn
artists back and compare them with the histogram's own edges.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import QuadMesh

from megara_crplugin.reports._axes import histogram_cmap, spread_labels, threshold_visible
from megara_crplugin.reports.figures import draw_target_diagnostic, plot_histogram2d


def _meshes(ax) -> list[QuadMesh]:
    return [c for c in ax.collections if isinstance(c, QuadMesh)]


def test_histogram2d_mesh_edges_are_the_histogram_edges(small_result):
    """Both panels draw the counts over exactly ``xedges`` x ``yedges`` (ADU)."""
    hist = small_result.histogram
    xe, ye = np.asarray(hist.xedges), np.asarray(hist.yedges)
    assert np.ptp(np.diff(xe)) > 0.1 * np.mean(np.diff(xe)), "x edges should not be uniform"
    fig = plot_histogram2d(small_result)
    ax_sim, ax_real = fig.axes[0], fig.axes[1]
    for ax, counts in ((ax_sim, hist.counts), (ax_real, hist.real_counts)):
        (mesh,) = _meshes(ax)
        coords = mesh.get_coordinates()  # (ny + 1, nx + 1, 2)
        np.testing.assert_allclose(coords[0, :, 0], xe, rtol=0, atol=1e-9)
        np.testing.assert_allclose(coords[:, 0, 1], ye, rtol=0, atol=1e-9)
        drawn = np.ma.filled(mesh.get_array(), 0).reshape(np.shape(counts))
        np.testing.assert_array_equal(drawn, np.where(counts > 0, counts, 0))


def test_histogram2d_columns_are_uniform_on_screen(small_result):
    """The abscissa is the noise-stabilised coordinate: equal-width columns on screen."""
    hist = small_result.histogram
    fig = plot_histogram2d(small_result)
    ax = fig.axes[0]
    fig.canvas.draw()
    xe = np.asarray(hist.xedges)
    screen = ax.transData.transform(np.column_stack([xe, np.full_like(xe, hist.yedges[1])]))[:, 0]
    widths = np.diff(screen)[1:-1]  # the end edges are clipped to the limits
    assert np.ptp(widths) < 0.01 * widths.mean()
    # and a point at a given ADU value is drawn inside its own column
    x60 = 60.0
    col = int(np.searchsorted(xe, x60)) - 1
    px = ax.transData.transform([[x60, 0.0]])[0, 0]
    assert screen[col] <= px <= screen[col + 1]


def test_target_density_edges_are_uniform_on_screen(small_result):
    """Panel (a): the density mesh covers the axes with equal cells in drawn coordinates."""
    panels = draw_target_diagnostic(small_result, "MEDIANCR")
    ax = panels.diagram
    panels.figure.canvas.draw()
    mesh = panels.artists["density"]
    coords = mesh.get_coordinates()
    for k, edges in ((0, coords[0, :, 0]), (1, coords[:, 0, 1])):
        pts = np.zeros((edges.size, 2))
        pts[:, k] = edges
        pts[:, 1 - k] = coords[0, 0, 1 - k]
        screen = ax.transData.transform(pts)[:, k]
        assert np.all(np.diff(screen) > 0)
        widths = np.diff(screen)
        assert np.ptp(widths) < 0.02 * widths.mean() + 0.01
    assert ax.get_yscale() == "function"  # the default diagram_yscale is sqrt


def test_histogram_cmap_ends_differ():
    """The colour map is not the same hue at both ends (defect: yellow at both ends)."""
    cmap = histogram_cmap(0.05, 2e4)
    lo, hi = np.asarray(cmap(0.0)[:3]), np.asarray(cmap(1.0)[:3])
    assert np.abs(lo - hi).max() > 0.3
    # a real bin holding exactly one pixel is drawn in viridis, not in the sub-pixel greys
    from matplotlib.colors import LogNorm

    one = np.asarray(cmap(LogNorm(0.05, 2e4)(1.0))[:3])
    assert not np.allclose(one[0], one[1:], atol=0.02)


def test_threshold_legend_only_when_visible():
    """A zero mm_threshold on the lower edge gets no line and no legend entry."""
    assert not threshold_visible(0.0, (0.0, 100.0))
    assert not threshold_visible(None, (0.0, 100.0))
    assert threshold_visible(5.0, (0.0, 100.0))


def test_spread_labels_removes_overlaps():
    """Labels on the same spot are pushed at least min_sep points apart."""
    from megara_crplugin.reports._common import new_figure

    fig = new_figure((4, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    x = np.array([5.0, 5.0, 5.01, 5.0, 2.0])
    y = np.array([5.0, 5.0, 5.0, 5.02, 2.0])
    off = spread_labels(ax, x, y, min_sep=9.0)
    pts = ax.transData.transform(np.column_stack([x, y])) * 72.0 / fig.dpi + off
    d = np.hypot(*(pts[:, None] - pts[None]).transpose(2, 0, 1))
    assert d[np.triu_indices(5, 1)].min() >= 9.0 - 1e-9
    assert np.allclose(off[-1], 0.0)  # an isolated label stays on its pixel


@pytest.mark.parametrize("kind", ["linear", "sqrt", "log"])
def test_diagram_yscale_choices(small_result, kind):
    """Every diagram_yscale draws; the scale is the one asked for."""
    cfg = small_result.config
    small_result.config = cfg.replace(diagram_yscale=kind)
    try:
        panels = draw_target_diagnostic(small_result, "MEDIANCR")
    finally:
        small_result.config = cfg
    expected = {"linear": "linear", "sqrt": "function", "log": "symlog"}[kind]
    assert panels.diagram.get_yscale() == expected
    assert "ADU" in panels.diagram.get_xlabel()


def test_feature_cutouts_are_not_mostly_black(small_result):
    """minmax cut-outs: limits from the CR-free cut-out, so the background is not black."""
    from megara_crplugin.reports.features import FeaturePageRenderer

    renderer = FeaturePageRenderer(small_result)
    assert small_result.features, "the small set has MEDIANCR features"
    dark_fractions = []
    for feature in small_result.features[:5]:
        renderer._render_cutouts(feature)
        art = renderer.images[renderer.n_shown]  # the median2d cut-out
        shown = art.norm(np.asarray(art.get_array(), dtype=float))
        dark_fractions.append(float(np.mean(shown < 0.1)))
    assert max(dark_fractions) < 0.5, dark_fractions
