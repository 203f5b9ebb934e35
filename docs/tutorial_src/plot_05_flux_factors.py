"""
Example 5: exposures with different flux levels
===============================================

If the exposures differ by a multiplicative factor (a change of transparency or of sky
brightness), a run that assumes equivalent exposures simulates a diagram narrower than
the real one. ``flux_factor: auto`` measures, for each exposure, its flux relative to
the median image (the robust median ratio of the bright pixels, iterated), preferably
in regions with signal (``flux_factor_regions``). ``apply_flux_factor_to: simulated``
(the default) multiplies the simulated exposure *i* by its factor; ``original`` divides
the exposures by their factors before everything else. Known factors can be given
instead, e.g. ``flux_factor: [0.8, 1.0, 1.2]``.

``mm_synthetic: single`` (Example 4) also copes with this case. The frames here have
flux factors 0.8, 1.0 and 1.2; M.M.Cosmic alone is used.
"""

import matplotlib.pyplot as plt
import numpy as np

from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.reports import figures
from megara_crplugin.synthetic import make_megara_like_frames

sset = make_megara_like_frames(
    (256, 512), 3, seed=1, n_double_hits=15, flux_factors=(0.8, 1.0, 1.2)
)
# The issue-9 safeguards (flux-change rejection, the expected-signal test, Aux
# corroboration) are switched off here so that what this example tunes acts alone, as in
# the reference implementation; with the defaults they remove most of these false
# features by themselves and warn that the exposures are not equivalent.
base = {
    "crmethod": "mmcosmic",
    "gain": sset.gain,
    "rnoise": sset.rnoise,
    "bias": sset.bias,
    "interactive": False,
    "flux_change_rejection": False,
    "mm_expected_sigma": None,
    "mm_aux_corroboration": None,
}


def score(result, label):
    """Print the double hits found and the features that hold no cosmic ray at all."""
    caught, total = sset.events_caught(result.masks["MEDIANCR"])
    false = sset.false_features(result.features)
    print(
        f"{label}: {caught}/{total} double-hit events found, "
        f"{false} of {len(result.features)} MEDIANCR features are false"
    )


plain = compute_crmasks(sset.frames, base)
score(plain, "flux_factor: none")

# %%
# Ignoring the factors
# --------------------
# **What to look at:** the real diagram (right) is much wider than the simulated one
# (left); on the sky lines, where the signal is high, the difference between exposures
# is far above the noise and whole lines are flagged (panel c of the next figure).
figures.plot_histogram2d(plain, fig=plt.figure(figsize=(12, 5.5)))

# %%
figures.plot_mediancr_diagnostic(plain, fig=plt.figure(figsize=(12, 8)))

# %%
# Measuring the factors
# ---------------------
# The region ``[xmin, xmax, ymin, ymax]`` (FITS pixels) covers the two bright sky lines.
auto = compute_crmasks(
    sset.frames,
    dict(base, flux_factor="auto", flux_factor_regions=[[400, 470, 1, 256]]),
)
print("injected factors:", sset.flux_factors)
print("measured factors:", np.round(auto.flux_factors, 3))
score(auto, "flux_factor: auto")

# %%
# ``image_number_at_median_position.png``: which exposure provides the median at each
# pixel. **What to look at:** with equivalent exposures the colours are mixed at random
# everywhere; here every bright structure (the sky lines, the band of the extended object
# near Y = 45, the fibre cores) has the colour of exposure 2, the one in the middle in
# flux: a clear sign of a flux difference. Only the faint gaps between fibres, where the
# noise dominates, stay mixed. The dashed rectangle is the region used for the factors.
figures.plot_image_number(auto, fig=plt.figure(figsize=(12, 5.5)))

# %%
# ``flux_factor1.png`` (one figure per exposure): the ratio exposure / median against
# the signal, as a 2-D histogram (left) and after removing isolated bins, with the fit
# (right). **What to look at:** the ratio must be flat at high signal; the horizontal
# line is the factor adopted.
figures.plot_flux_factor(auto, 1, fig=plt.figure(figsize=(12, 5.5)))

# %%
figures.plot_flux_factor(auto, 3, fig=plt.figure(figsize=(12, 5.5)))

# %%
# With the factors, the simulated diagram matches the real one and the sky lines are no
# longer flagged.
figures.plot_histogram2d(auto, fig=plt.figure(figsize=(12, 5.5)))

# %%
figures.plot_mediancr_diagnostic(auto, fig=plt.figure(figsize=(12, 8)))
