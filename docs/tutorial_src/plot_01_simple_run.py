"""
Example 1: a simple run
=======================

Three equivalent exposures, M.M.Cosmic together with an Aux.Cosmic detector
(``crmethod: mm_pycosmic``, the default): a pixel is flagged when either method finds it.
This example walks through every figure of a run and ends with what the masks change in
the combined image.

The frames are synthetic MEGARA-like exposures (fibre spectra stacked along Y, sky lines
crossing every fibre along X, read noise 3.4 ADU, gain 1), with 15 cosmic rays designed
to hit the **same** pixels in two of the three exposures, which a median cannot remove.
"""

# %%
# The frames and the parameters
# -----------------------------
# From the command line the same run is ``megara-crmasks params.yaml --output_dir out``
# with these keys under ``requirements`` (see :doc:`../cli`).
import matplotlib.pyplot as plt
import numpy as np

from megara_crplugin.combination import combine
from megara_crplugin.crmasks_file import crmasks_hdulist, read_crmasks
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.reports import figures
from megara_crplugin.reports.features import FeaturePageRenderer
from megara_crplugin.synthetic import make_megara_like_frames

sset = make_megara_like_frames((256, 512), 3, seed=1, n_double_hits=15)
params = {
    "crmethod": "mm_pycosmic",
    "gain": sset.gain,  # e-/ADU
    "rnoise": sset.rnoise,  # ADU
    "bias": sset.bias,  # ADU
    "interactive": False,
    "mm_seed": 1234,
}
result = compute_crmasks(sset.frames, params)

# %%
# The MM diagnostic diagram
# -------------------------
# ``diagnostic_histogram2d.png``. Left: the diagram of ``mm_nsimulations`` simulated
# stacks, made from the median image with the gain and read noise given. The red crosses
# are the boundary points (in each column, the ordinate above which fewer than
# ``mm_boundary_tail`` simulated pixels are expected); the spline through them is pushed
# upwards over ``mm_niter_boundary_extension`` iterations and the last curve is the
# *detection boundary*. Right: the diagram of the real exposures with that boundary.
#
# **What to look at:** the two histograms must look alike below the boundary. If the
# real one spreads higher than the simulated one, the exposures are not equivalent
# (flux changes, offsets: Examples 4 to 6) and noise will be flagged. The few isolated
# pixels far above the boundary on the right are the double hits.
figures.plot_histogram2d(result, fig=plt.figure(figsize=(12, 5.5)))

# %%
# The suspected pixels
# --------------------
# ``diagnostic_mediancr.png``: (a) the diagram with every MEDIANCR pixel drawn with the
# symbol of the method that found it (M.M.Cosmic only, Aux only, both, or added by
# dilation), (b) the same pixels as their feature numbers, (c) ``median2d`` with their
# positions and (d) ``mean2d``.
#
# **What to look at:** suspected pixels lined up along a sky line in panel (c), or
# packed just above the boundary in (a), are false positives; isolated pixels well above
# the boundary, found by both methods, are real double hits.
figures.plot_mediancr_diagnostic(result, fig=plt.figure(figsize=(12, 8)))

# %%
# Each feature is classified by the methods that found its pixels: ``any4`` (at least
# one pixel found by both), ``only3`` (Aux.Cosmic only), ``only2`` (M.M.Cosmic only) and
# ``other``. The command writes one CSV table and one PDF per category.
categories = {}
for feature in result.features:
    categories[feature.category] = categories.get(feature.category, 0) + 1
print("features per category:", categories)
print("pixels per mask:", {name: int(m.sum()) for name, m in result.masks.items()})


# %%
# The two PDF pages of a feature
# -------------------------------
# ``mediancr_identified_<category>.pdf`` has two pages per feature. Page 1: the cut-out
# of every exposure, ``median2d``, the detection codes and the median after correction
# (masked pixels replaced by ``min2d``). Page 2: the feature's pixels in the MM diagram.
#
# **What to look at:** on page 1 the cosmic ray must be visible in two exposures and
# absent from the corrected median; on page 2 its pixels lie far above the boundary.
class _Pages:
    """Collect the rendered pages as images (the command writes them to a PDF)."""

    def savefig(self, fig):
        fig.canvas.draw()
        page = np.asarray(fig.canvas.buffer_rgba())
        ax = plt.figure(figsize=(10, 10 * page.shape[0] / page.shape[1])).add_axes([0, 0, 1, 1])
        ax.imshow(page)
        ax.set_axis_off()


FeaturePageRenderer(result).render(result.features[0], _Pages())

# %%
# Comparison with the injected cosmic rays
# ----------------------------------------
# The synthetic set knows where every cosmic ray fell. ``double_hit_events`` lists the
# designed events that raise the noiseless median by more than 5 sigma: those the
# median combination cannot remove; ``events_caught`` counts those touching MEDIANCR and
# ``false_features`` the features that hold no cosmic-ray pixel at all.
caught, total = sset.events_caught(result.masks["MEDIANCR"])
false = sset.false_features(result.features)
print(f"double-hit events in MEDIANCR: {caught}/{total}")
print(f"MEDIANCR features without any cosmic ray: {false}/{len(result.features)}")

# %%
# The combined images
# -------------------
# ``combine`` builds the seven combinations from the masks file (here kept in memory).
# Below: a cut-out around the brightest double hit in the plain median, in ``mediancr``
# (masked pixels of the median replaced by ``min2d``) and in ``meancr2`` (mean of the
# values not flagged in their exposure, then the residual MEANCR mask), with the number
# of pixels of the whole frame whose residual against the noiseless scene exceeds
# 5 sigma of that combination.
#
# **What to look at:** the double hit survives the median and is gone from the masked
# combinations; ``meancr2`` also has the lower noise of a mean.
masks = read_crmasks(crmasks_hdulist(result))
sigma1 = np.sqrt(np.clip(sset.signal, 0, None) / sset.gain + sset.rnoise**2)
brightest = max(
    sset.double_hit_events(min_sigma=5.0), key=lambda e: float(e.amplitudes.min(axis=0).max())
)
yc, xc = int(brightest.ys[0]), int(brightest.xs[0])
box = (slice(max(yc - 12, 0), yc + 13), slice(max(xc - 12, 0), xc + 13))
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharex=True, sharey=True)
for ax, method in zip(axes, ("median", "mediancr", "meancr2"), strict=True):
    comb = combine(sset.frames, method, masks=masks, bias=sset.bias)
    z = (comb.data - sset.signal) / (sigma1 / np.sqrt(np.maximum(comb.map, 1)))
    n5 = int(np.count_nonzero(z > 5))
    extent = (box[1].start + 0.5, box[1].stop + 0.5, box[0].start + 0.5, box[0].stop + 0.5)
    vmax = float(np.percentile(sset.signal[box], 99)) * 1.5 + 30
    ax.imshow(comb.data[box], origin="lower", cmap="gray", vmin=0, vmax=vmax, extent=extent)
    ax.set_title(f"{method}: {n5} pixels > 5 sigma in the frame", fontsize=10)
    ax.set_xlabel("X (FITS)")
axes[0].set_ylabel("Y (FITS)")
_ = fig.suptitle(f"double hit at (X, Y) = ({xc + 1}, {yc + 1}), ADU")
