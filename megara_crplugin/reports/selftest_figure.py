"""``selftest.png``: recall of the injected events against their amplitude, per kind.

Top panel: fraction of the injected events detected in each amplitude bin
(local sigma, log scale), one curve per kind (``double`` scored on MEDIANCR or
on the CRMASKi of both exposures hit, ``single`` on the CRMASKi of the
exposure hit), with 68 % Wilson intervals.  Bottom panel: the number of
events per bin, so a point resting on few events is visible as such.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import new_figure

__all__ = ["selftest_figure", "wilson_interval"]

_STYLE = {
    "double": {"color": "tab:red", "marker": "o"},
    "single": {"color": "tab:blue", "marker": "s"},
}


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``k`` successes in ``n`` trials (``z`` = 1: 68 %)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return centre - half, centre + half


def _covering(bins: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """``bins`` extended by one bin below / above so that every amplitude is drawn."""
    amp = amp[np.isfinite(amp) & (amp > 0)]
    if amp.size and amp.min() < bins[0]:
        bins = np.concatenate([[10 ** np.floor(np.log10(amp.min()))], bins])
    if amp.size and amp.max() > bins[-1]:
        bins = np.concatenate([bins, [10 ** np.ceil(np.log10(amp.max() * 1.0001))]])
    return bins


def selftest_figure(result: Any, *, title: str = "", bins=None) -> Any:
    """Draw the self-test figure of a :class:`~megara_crplugin.selftest.SelfTestResult`.

    Returns
    -------
    matplotlib.figure.Figure
        An Agg figure (not attached to pyplot).
    """
    from ..selftest import AMPLITUDE_BINS, recall_table

    kinds = np.array([ev.kind for ev in result.events])
    amp = np.array([ev.amplitude_sigma for ev in result.events])
    bins = _covering(np.asarray(AMPLITUDE_BINS if bins is None else bins, float), amp)
    fig = new_figure((7.0, 5.6))
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    ax, axn = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    centres = np.sqrt(bins[:-1] * bins[1:])
    width = np.diff(np.log10(bins))
    for j, kind in enumerate(("double", "single")):
        sel = kinds == kind
        if not sel.any():
            continue
        rows = recall_table(amp[sel], result.detected[sel], bins)
        n = np.array([r[2] for r in rows])
        k = np.array([r[3] for r in rows])
        ok = n > 0
        lo, hi = wilson_interval(k[ok], n[ok])
        rec = k[ok] / n[ok]
        total = f"{int(result.detected[sel].sum())}/{int(sel.sum())}"
        if kind == "single":
            target = "its CRMASKi"
        else:
            target = "MEDIANCR" if result.n_frames <= 4 else "both CRMASKi"
        ax.errorbar(
            centres[ok],
            rec,
            yerr=(np.clip(rec - lo, 0, None), np.clip(hi - rec, 0, None)),
            capsize=3,
            label=f"{kind} hits ({total} found in {target})",
            **_STYLE[kind],
        )
        # side-by-side bars in log space
        left = 10 ** (np.log10(bins[:-1]) + width * (0.1 + 0.4 * j))
        right = 10 ** (np.log10(bins[:-1]) + width * (0.5 + 0.4 * j))
        axn.bar(left, n, width=right - left, align="edge", color=_STYLE[kind]["color"], alpha=0.7)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    for axis in (ax, axn):
        axis.set_xscale("log")
        axis.set_xlim(bins[0], bins[-1])
        for edge in bins[1:-1]:
            axis.axvline(edge, color="0.85", lw=0.6, zorder=0)
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("fraction of injected events detected")
    ax.tick_params(labelbottom=False)
    ax.legend(loc="lower right", fontsize=8)
    unexplained = (
        f"unexplained detections: {result.n_unexplained} groups "
        f"({int(result.rounds.max(initial=0))} injected run(s), {result.n_frames} exposures)"
    )
    ax.set_title((title + "\n" if title else "") + unexplained, fontsize=9)
    axn.set_xlabel("amplitude of the (weaker) hit / local single-exposure sigma")
    axn.set_ylabel("events")
    ticks = bins
    axn.set_xticks(ticks)
    axn.set_xticklabels([f"{t:g}" for t in ticks])
    axn.minorticks_off()
    return fig
