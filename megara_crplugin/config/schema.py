"""The parameter declarations: one row per parameter, in documentation order.

This is the only place where a parameter is declared.  Validation
(:func:`~megara_crplugin.config.validate_parameters`), the attributes of
:class:`~megara_crplugin.config.CRConfig`, the numina recipe parameters, the
CLI options, the HISTORY record and ``docs/parameters.md`` are all derived
from :data:`PARAMETERS`.

To add a parameter, add one row to ``_ROWS`` (group, name, kind, default,
unit, rule keywords, one-line description); the kind must be a key of
:data:`megara_crplugin.config.kinds.KINDS` (add a :class:`~.kinds.Kind` there
for a new value family).  Rules involving several parameters go to
:mod:`megara_crplugin.config.validation`.
"""

from __future__ import annotations

from typing import Any

from ..combination import METHODS
from .param import Param

__all__ = ["AUX_GROUP", "COMBINATIONS", "CRMETHODS", "GROUPS", "PARAMETERS"]

#: Built-in values of ``crmethod`` ('mmcosmic' is accepted: defect 5).  The valid set
#: is derived from the detector registry at validation time (third-party ``X``, ``mm_X``).
CRMETHODS: tuple[str, ...] = (
    "lacosmic",
    "pycosmic",
    "deepcr",
    "conn",
    "mmcosmic",
    "mm_lacosmic",
    "mm_pycosmic",
    "mm_deepcr",
    "mm_conn",
)
#: Combination methods of the masks (the one list: :data:`megara_crplugin.combination.METHODS`).
COMBINATIONS: tuple[str, ...] = METHODS
#: Parameter groups, in documentation order, with their titles.
GROUPS: dict[str, str] = {
    "general": "General",
    "la": "L.A.Cosmic (`la_*`, crmethod lacosmic / mm_lacosmic)",
    "pc": "PyCosmic (`pc_*`, crmethod pycosmic / mm_pycosmic)",
    "dc": "deepCR (`dc_*`, crmethod deepcr / mm_deepcr)",
    "nn": "Cosmic-CoNN (`nn_*`, crmethod conn / mm_conn)",
    "mm": "M.M.Cosmic (`mm_*`, crmethod mmcosmic / mm_*)",
}
#: Parameter group of each built-in Aux detector.
AUX_GROUP: dict[str, str] = {"lacosmic": "la", "pycosmic": "pc", "deepcr": "dc", "conn": "nn"}

_POS = {"minimum": 0, "min_exclusive": True}
_NONNEG = {"minimum": 0}
_UNIT = {"minimum": 0, "maximum": 1, "min_exclusive": True, "max_exclusive": True}
_NULL = {"nullable": True}

# One row per parameter, in documentation order:
# (group, name, kind, default, unit, rule keywords, one-line description).
# fmt: off
_ROWS: list[tuple[str, str, str, Any, str, dict[str, Any], str]] = [
    ("general", "gain", "noise", 1.0, "e-/ADU", _POS,
     "Detector gain; a 2-D array is accepted from Python only."),
    ("general", "rnoise", "noise", 3.4, "ADU", _NONNEG,
     "Read-out noise; a 2-D array is accepted from Python only."),
    ("general", "bias", "noise", 0.0, "ADU", {},
     "Bias level subtracted from every exposure."),
    ("general", "crmethod", "choice", "mm_pycosmic", "", {"choices": CRMETHODS},
     "Detection method: an Aux.Cosmic detector, M.M.Cosmic alone, or both (mm_*)."),
    ("general", "use_auxmedian", "bool", False, "", {"note": "not with conn, mm_conn, mmcosmic"},
     "Replace MEDIANCR pixels by the Aux-cleaned median instead of the minimum."),
    ("general", "flux_factor", "flux_factor", "none", "",
     {**_NULL, "note": "factors > 0; one number applies to every exposure"},
     "Flux of each exposure relative to the median ('none' = all 1.0)."),
    ("general", "flux_factor_regions", "regions", None, "pixel",
     {**_NULL, "note": "requires flux_factor 'auto'"},
     "Regions used by flux_factor 'auto' (null = whole image)."),
    ("general", "apply_flux_factor_to", "choice", "simulated", "",
     {"choices": ("original", "simulated")},
     "Divide the exposures by the factors ('original') or scale the simulations."),
    ("general", "interactive", "bool", True, "", {},
     "Show the MM diagram and ask for decisions."),
    ("general", "dilation", "int", 1, "pixel", _NONNEG,
     "Global dilation (3x3 structure, iterations) of every mask."),
    ("general", "regions_to_be_skipped", "regions", None, "pixel", _NULL,
     "Regions where nothing is ever flagged."),
    ("general", "pixels_to_be_flagged_as_cr", "pixels", None, "pixel", _NULL,
     "Pixels forced into the set of pixels to be cleaned."),
    ("general", "pixels_to_be_ignored_as_cr", "pixels", None, "pixel", _NULL,
     "Pixels never flagged in any mask."),
    ("general", "pixels_to_be_replaced_by_local_median", "pixels_median", None, "pixel",
     {**_NULL, "note": "Xwidth, Ywidth odd >= 1, Xwidth*Ywidth >= 3"},
     "Pixels replaced by the median of an Xwidth x Ywidth window."),
    ("general", "dtype", "choice", "float32", "", {"choices": ("float32", "float64")},
     "Floating type of the internal stack and of the combinations."),
    ("general", "verify_cr", "bool", False, "", {"note": "requires interactive"},
     "Ask accept/reject for every MEDIANCR feature."),
    ("general", "semiwindow", "int", 15, "pixel", _NONNEG,
     "Half size of the per-feature cut-outs in the PDF report."),
    ("general", "color_scale", "choice", "minmax", "", {"choices": ("minmax", "zscale")},
     "Colour scale of the per-feature cut-outs."),
    ("general", "maxplots", "int", 10, "", {"note": "any integer"},
     "Number of features plotted (negative = all; at most 1000)."),
    ("general", "debug", "bool", False, "", {},
     "Write extra diagnostic figures."),
    ("general", "diagram_yscale", "choice", "sqrt", "", {"choices": ("linear", "sqrt", "log")},
     "Ordinate of the MM diagram panels of the target figures: sqrt or (symmetric) log keep "
     "the boundary readable beside bright cosmic rays."),
    ("general", "bpm", "path", None, "", _NULL,
     "Bad-pixel mask (FITS, non-zero = bad, like the DRP's BPM): known defects, never masked."),
    ("general", "defects_low_rnoise", "optional_float", 10.0, "rnoise", {**_NULL, **_POS},
     "Defect: min2d below -this x rnoise (null = off)."),
    ("general", "defects_hot_sigma", "optional_float", 5.0, "sigma", {**_NULL, **_POS},
     "Defect: above (below) all 8 neighbours by this many sigma in every exposure; null = "
     "off (also the same-valued Aux detections of every exposure)."),
    ("general", "flux_change_rejection", "bool", True, "", {},
     "Drop features whose excess is a scaled copy of the local signal (flux changes)."),
    ("general", "flux_change_nsigma", "float", 4.0, "sigma", _POS,
     "A feature is kept when its excess exceeds the scaled-profile model by this much."),
    ("general", "flux_change_evidence", "optional_float", 25.0, "chi2", {**_NULL, **_POS},
     "A feature is a flux change only where the fitted change is this significant over its "
     "window (chi-square; 25 = 5 sigma); null = any feature the model explains."),
    ("general", "noise_check_tolerance", "float", 0.25, "", _POS,
     "Warn when the read noise measured on the frames differs from rnoise by this fraction."),
    ("general", "reports", "choice", "summary", "", {**_NULL, "choices": ("full", "summary")},
     "Reports: summary (MM diagrams, tables, report.html), full (every figure and PDF), none."),
    ("general", "jobs", "int", 0, "", _NONNEG,
     "Cores used for the independent work (0 = all): detector calls and simulations in "
     "processes, the per-pixel stages and the targets' tests in threads."),
    ("la", "la_gain_apply", "bool", False, "", {},
     "Accepted for compatibility; no effect (cleaned images are always in ADU)."),
    ("la", "la_sigclip", "pair", [5.0, 3.0], "", _POS,
     "Laplacian-to-noise limit (first and second pass)."),
    ("la", "la_sigfrac", "pair", [0.3, 0.3], "", _POS,
     "Fractional limit for neighbouring pixels (first and second pass)."),
    ("la", "la_objlim", "pair", [5.0, 5.0], "", _POS,
     "Contrast limit Laplacian / fine structure (first and second pass)."),
    ("la", "la_satlevel", "float", 65535.0, "ADU", _POS,
     "Saturation level."),
    ("la", "la_niter", "int", 4, "", {"minimum": 1},
     "Number of L.A.Cosmic iterations."),
    ("la", "la_sepmed", "bool", True, "", {},
     "Use the separable median filter."),
    ("la", "la_cleantype", "choice", "meanmask", "",
     {"choices": ("median", "medmask", "meanmask", "idw")},
     "Cleaning algorithm of the flagged pixels."),
    ("la", "la_fsmode", "choice", "convolve", "", {"choices": ("median", "convolve")},
     "How the fine-structure image is built."),
    ("la", "la_psfmodel", "choice", "gaussxy", "",
     {"choices": ("gauss", "moffat", "gaussx", "gaussy", "gaussxy")},
     "PSF model of the convolution kernel."),
    ("la", "la_psffwhm_x", "float", 2.5, "pixel", _POS,
     "PSF FWHM along X."),
    ("la", "la_psffwhm_y", "float", 2.5, "pixel", _POS,
     "PSF FWHM along Y."),
    ("la", "la_psfsize", "int", 11, "pixel", {"odd": True, "minimum": 3},
     "Size of the PSF kernel."),
    ("la", "la_psfbeta", "float", 4.765, "", _POS,
     "Moffat beta (la_psfmodel 'moffat')."),
    ("la", "la_verbose", "bool", False, "", {},
     "Log the detector's own messages."),
    ("la", "la_padwidth", "int", 10, "pixel", _NONNEG,
     "Mirror padding added around the image before detection."),
    ("pc", "pc_sigma_det", "pair", [5.0, 3.0], "", _POS,
     "Detection limit of edge pixels in sigma (first and second pass)."),
    ("pc", "pc_rlim", "pair", [1.2, 1.2], "", _POS,
     "Threshold Laplacian / Gaussian-smoothed image (first and second pass)."),
    ("pc", "pc_iterations", "int", 4, "", {"minimum": 1},
     "Number of PyCosmic iterations."),
    ("pc", "pc_fwhm_gauss_x", "float", 2.5, "pixel", _POS,
     "FWHM of the smoothing kernel along X."),
    ("pc", "pc_fwhm_gauss_y", "float", 2.5, "pixel", _POS,
     "FWHM of the smoothing kernel along Y."),
    ("pc", "pc_replace_box_x", "int", 5, "pixel", {"odd": True, "minimum": 1},
     "Median box along X for replacement values."),
    ("pc", "pc_replace_box_y", "int", 5, "pixel", {"odd": True, "minimum": 1},
     "Median box along Y for replacement values."),
    ("pc", "pc_replace_error", "float", 1.0e6, "", _POS,
     "Error value given to bad pixels."),
    ("pc", "pc_increase_radius", "int", 0, "pixel", _NONNEG,
     "Grow every detection by this radius."),
    ("pc", "pc_verbose", "bool", False, "", {},
     "Log the detector's own messages."),
    ("dc", "dc_mask", "choice", "ACS-WFC", "", {"choices": ("ACS-WFC", "WFC3-UVIS")},
     "deepCR mask model."),
    ("dc", "dc_threshold", "float", 0.5, "", _UNIT,
     "Probability threshold of the deepCR mask."),
    ("dc", "dc_verbose", "bool", False, "", {},
     "Log progress messages."),
    ("nn", "nn_model", "choice", "ground_imaging", "",
     {"choices": ("ground_imaging", "NRES", "HST_ACS_WFC")},
     "Cosmic-CoNN trained model."),
    ("nn", "nn_threshold", "float", 0.5, "", _UNIT,
     "Probability threshold of the Cosmic-CoNN mask."),
    ("nn", "nn_verbose", "bool", False, "", {},
     "Log progress messages."),
    ("mm", "mm_cr_coincidences", "int", 2, "", {"minimum": 2, "note": "<= n_images - 1"},
     "Highest values excluded from min2d (coincident hits tolerated)."),
    ("mm", "mm_photon_distribution", "choice", "poisson", "",
     {"choices": ("poisson", "nbinom")},
     "Photon statistics of the simulations."),
    ("mm", "mm_nbinom_shape", "float", 1000.0, "", {"note": "> 0 (checked only with 'nbinom')"},
     "Shape parameter of the negative binomial distribution."),
    ("mm", "mm_synthetic", "choice", "median", "", {"choices": ("median", "single")},
     "Model of the simulated exposures."),
    ("mm", "mm_hist2d_min_neighbors", "int", 0, "", {"minimum": 0, "maximum": 8},
     "Remove simulated bins with fewer non-empty neighbours (0 = off)."),
    ("mm", "mm_ydiag_max", "float", 0.0, "ADU", _NONNEG,
     "Upper y limit of the MM diagram (0 = automatic)."),
    ("mm", "mm_dilation", "int", 0, "pixel", _NONNEG,
     "Dilation of M.M.Cosmic-only detections."),
    ("mm", "mm_xy_offsets", "offsets", None, "pixel",
     {**_NULL, "note": "exclusive with mm_crosscorr_region"},
     "Offsets [dx, dy] of every exposure."),
    ("mm", "mm_crosscorr_region", "region", None, "pixel",
     {**_NULL, "note": "area >= 100 pixels"},
     "Region used to measure the offsets by cross-correlation (the peak within 3 px of no "
     "shift, half a fibre pitch; give mm_xy_offsets for larger offsets)."),
    ("mm", "mm_boundary_fit", "choice", "spline", "", {"choices": ("spline", "piecewise")},
     "Shape of the detection boundary."),
    ("mm", "mm_secondary_boundary", "choice", "simulated", "",
     {"choices": ("simulated", "median")},
     "Boundary of the MEANCRT/CRMASKi diagrams: simulated for their own ordinate, or the "
     "median one (reference)."),
    ("mm", "mm_boundary_tail", "float", 0.1, "pixel", {"minimum": 0, "min_exclusive": True},
     "Simulated pixels (all simulations) expected above each boundary point; 1 = reference."),
    ("mm", "mm_aux_corroboration", "optional_float", 1e-3, "", {**_NULL, **_UNIT},
     "Aux feature kept only with a pixel above the simulated level exceeded with this "
     "probability per pixel (null = reference: above mm_threshold)."),
    ("mm", "mm_knots_splfit", "int", 3, "", {"minimum": 2},
     "Total number of spline knots (both ends included)."),
    ("mm", "mm_fixed_points_in_boundary", "fixed_points", None, "ADU",
     {**_NULL, "note": "default weight 10000; >= 2 points for 'piecewise'"},
     "Points (min2d, median2d - min2d[, weight]) the boundary must follow."),
    ("mm", "mm_nsimulations", "int", 10, "", _POS,
     "Number of simulated stacks."),
    ("mm", "mm_niter_boundary_extension", "int", 3, "", _NONNEG,
     "Iterations pushing the spline above the boundary points."),
    ("mm", "mm_weight_boundary_extension", "float", 10.0, "", {"minimum": 1},
     "Weight base of the points above the spline, per iteration."),
    ("mm", "mm_threshold_rnoise", "float", 0.0, "rnoise", _NONNEG,
     "Minimum median2d - min2d, in units of the read noise."),
    ("mm", "mm_threshold", "optional_float", None, "ADU",
     {**_NULL, **_NONNEG, "note": "not together with mm_threshold_rnoise"},
     "Minimum median2d - min2d in ADU (the documented alias)."),
    ("mm", "mm_minimum_max2d_rnoise", "float", 5.0, "rnoise", {},
     "Minimum max2d of a double hit, in units of the read noise."),
    ("mm", "mm_expected_sigma", "optional_float", 4.3, "sigma",
     {**_NULL, "minimum": 1, "note": "null = the boundary alone (reference)"},
     "Test against the expected signal estimated from the neighbours along x "
     "(docs/mmcosmic.md): MEDIANCR flags a median this many sigma above it "
     "(a normal-tail level: raised on faint pixels by the photon noise's skewness)."),
    ("mm", "mm_seed", "seed", 1234, "", {**_NULL, **_NONNEG},
     "Seed of the simulations (null = not reproducible)."),
]
# fmt: on


#: Every parameter, in documentation order.
PARAMETERS: dict[str, Param] = {
    name: Param(name, group, kind, default, text, unit=unit, **rule)
    for group, name, kind, default, unit, rule, text in _ROWS
}
