"""Tests of the parameter schema (megara_crplugin.config) and region parsers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from megara_crplugin.config import (
    COMBINATIONS,
    CRMETHODS,
    PARAMETERS,
    ConfigError,
    parameters_markdown,
    validate_parameters,
)
from megara_crplugin.regions import Region, pixel_indices, regions_mask

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

GENERAL_KEYS = [
    "gain", "rnoise", "bias", "crmethod", "use_auxmedian", "flux_factor",
    "flux_factor_regions", "apply_flux_factor_to", "interactive", "dilation",
    "regions_to_be_skipped", "pixels_to_be_flagged_as_cr", "pixels_to_be_ignored_as_cr",
    "pixels_to_be_replaced_by_local_median", "dtype", "verify_cr", "semiwindow",
    "color_scale", "maxplots", "debug", "diagram_yscale",
]  # fmt: skip
#: General keys added by issue 9 (after the reference ones).
GENERAL_KEYS_ISSUE9 = [
    "bpm", "defects_low_rnoise", "defects_hot_sigma",
    "flux_change_rejection", "flux_change_nsigma", "flux_change_evidence",
    "noise_check_tolerance",
    "reports", "jobs",
]  # fmt: skip


def problems_of(params, **context):
    """Return the list of problems reported for ``params``."""
    with pytest.raises(ConfigError) as info:
        validate_parameters(params, **context)
    return info.value.problems


def one_problem(params, **context):
    """Return the single problem reported for ``params``."""
    problems = problems_of(params, **context)
    assert len(problems) == 1, problems
    return problems[0]


class TestSchema:
    def test_general_keys_in_documentation_order(self):
        general = [n for n, p in PARAMETERS.items() if p.group == "general"]
        assert general == GENERAL_KEYS + GENERAL_KEYS_ISSUE9

    def test_group_sizes_and_prefixes(self):
        sizes = {}
        for name, p in PARAMETERS.items():
            sizes[p.group] = sizes.get(p.group, 0) + 1
            if p.group != "general":
                assert name.startswith(p.group + "_"), name
        assert sizes == {"general": 30, "la": 16, "pc": 10, "dc": 3, "nn": 3, "mm": 23}
        assert list(PARAMETERS)[:21] == GENERAL_KEYS

    def test_decided_defaults(self):
        d = {name: p.default for name, p in PARAMETERS.items()}
        assert d["crmethod"] == "mm_pycosmic"
        assert d["interactive"] is True and d["dilation"] == 1 and d["maxplots"] == 10
        assert d["mm_seed"] == 1234 and d["dc_mask"] == "ACS-WFC"
        assert d["apply_flux_factor_to"] == "simulated" and d["flux_factor"] == "none"
        assert (d["gain"], d["rnoise"], d["bias"]) == (1.0, 3.4, 0.0)
        assert d["la_sigclip"] == [5.0, 3.0] and d["pc_sigma_det"] == [5.0, 3.0]
        assert d["mm_threshold"] is None and d["mm_threshold_rnoise"] == 0.0
        assert d["flux_change_rejection"] is True and d["flux_change_nsigma"] == 4.0
        assert d["noise_check_tolerance"] == 0.25

    def test_every_param_is_well_formed(self):
        for name, p in PARAMETERS.items():
            assert p.name == name
            assert p.description and "\n" not in p.description and p.description.endswith(".")
            assert not isinstance(p.default, tuple), name  # plain python, lists not tuples
            if p.choices:
                assert p.default in p.choices, name
            # the default passes its own validation
            p.validate(p.default)

    def test_constants(self):
        assert set(CRMETHODS) == {
            "lacosmic", "pycosmic", "deepcr", "conn", "mmcosmic",
            "mm_lacosmic", "mm_pycosmic", "mm_deepcr", "mm_conn",
        }  # fmt: skip
        assert COMBINATIONS == ("mean", "median", "min", "mediancr", "meancrt", "meancr", "meancr2")

    def test_parameters_markdown_lists_every_key(self):
        # docs/parameters.md is generated from this at documentation build time
        # (megara_crplugin._docgen, tests/test_docs.py)
        text = parameters_markdown()
        for name in PARAMETERS:
            assert f"| `{name}` |" in text


class TestDefaults:
    def test_empty_mapping_gives_defaults(self):
        cfg = validate_parameters()
        assert cfg == validate_parameters({})
        assert cfg.crmethod == "mm_pycosmic" and cfg.uses_mm and cfg.aux_name == "pycosmic"
        assert cfg.la_sigclip == (5.0, 3.0)
        assert cfg.regions_to_be_skipped == () and cfg.mm_xy_offsets is None
        assert cfg.flux_factor is None  # 'none' with the number of exposures unknown
        np.testing.assert_array_equal(cfg.flux_factors(4), np.ones(4))

    def test_defaults_with_n_images(self):
        cfg = validate_parameters(n_images=5, shape=(20, 30))
        assert cfg.flux_factor == (1.0,) * 5
        assert cfg.n_images == 5 and cfg.shape == (20, 30)

    def test_immutable(self):
        cfg = validate_parameters()
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.dilation = 3


class TestUnknownKeys:
    @pytest.mark.parametrize(
        ("key", "suggestion"),
        [
            ("mm_nsimulation", "mm_nsimulations"),
            ("mm_knots_split", "mm_knots_splfit"),  # typo of the numina documentation
            ("pixels_to_be-flagged_as_cr", "pixels_to_be_flagged_as_cr"),
            ("la_sigclp", "la_sigclip"),
        ],
    )
    def test_suggestion(self, key, suggestion):
        assert one_problem({key: 1}) == (f"unknown parameter {key!r}; did you mean {suggestion!r}?")

    def test_no_suggestion(self):
        assert one_problem({"zzzz": 1}) == "unknown parameter 'zzzz'"

    def test_recipe_only_keys_are_not_in_the_schema(self):
        for key in ("save_preprocessed", "save_postprocessed", "output_dir"):
            assert key not in PARAMETERS

    def test_not_a_mapping(self):
        with pytest.raises(ConfigError, match=r"^params: expected a mapping .*got \[1, 2\]$"):
            validate_parameters([1, 2])

    def test_all_problems_in_one_pass(self):
        problems = problems_of(
            {"crmethod": "foo", "dilation": -1, "la_psfsize": 4, "mm_nsimulatons": 3}
        )
        assert len(problems) == 4
        assert problems[0].startswith("unknown parameter 'mm_nsimulatons'")
        assert {p.split(":")[0] for p in problems[1:]} == {"crmethod", "dilation", "la_psfsize"}
        with pytest.raises(ConfigError) as info:
            validate_parameters({"crmethod": "foo", "dilation": -1})
        assert str(info.value).count("\n") == 1


class TestNormalisation:
    @pytest.mark.parametrize("none", [None, "none", "None", "null", " NONE "])
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("flux_factor_regions", ()),
            ("regions_to_be_skipped", ()),
            ("pixels_to_be_flagged_as_cr", ()),
            ("pixels_to_be_ignored_as_cr", ()),
            ("pixels_to_be_replaced_by_local_median", ()),
            ("mm_xy_offsets", None),
            ("mm_crosscorr_region", None),
            ("mm_fixed_points_in_boundary", ()),
            ("mm_seed", None),
            ("mm_threshold", None),
        ],
    )
    def test_none_strings(self, none, name, expected):
        assert getattr(validate_parameters({name: none}), name) == expected

    def test_offsets_with_crosscorr_string_none_defect_9(self):
        cfg = validate_parameters(
            {"mm_xy_offsets": [[0, 0], [1.5, -2], [0.2, 0.1]], "mm_crosscorr_region": "none"},
            n_images=3,
        )
        assert cfg.mm_xy_offsets == ((0.0, 0.0), (1.5, -2.0), (0.2, 0.1))
        assert cfg.mm_crosscorr_region is None

    def test_offsets_and_crosscorr_exclusive(self):
        assert one_problem(
            {"mm_xy_offsets": [[0, 0]] * 3, "mm_crosscorr_region": [1, 20, 1, 20]}
        ) == (
            "mm_xy_offsets: expected null when mm_crosscorr_region is given "
            "(they are exclusive), got a list of offsets"
        )

    def test_strings_with_literals(self):
        cfg = validate_parameters(
            {
                "flux_factor": "[0.8, 1.0, 1.2]",
                "la_sigclip": "[4.5, 3]",
                "mm_fixed_points_in_boundary": "[[10, 20], [30, 40, 5]]",
                "regions_to_be_skipped": "[[1, 3, 1, 4]]",
                "dilation": "2",
                "debug": "true",
                "mm_seed": "7",
            }
        )
        assert cfg.flux_factor == (0.8, 1.0, 1.2)
        assert cfg.la_sigclip == (4.5, 3.0)
        assert cfg.mm_fixed_points_in_boundary == ((10.0, 20.0, 10000.0), (30.0, 40.0, 5.0))
        assert cfg.regions_to_be_skipped == (Region(1, 3, 1, 4),)
        assert (cfg.dilation, cfg.debug, cfg.mm_seed) == (2, True, 7)

    def test_strings_are_never_evaluated_defect_26(self, tmp_path):
        marker = tmp_path / "pwned"
        code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
        problem = one_problem({"mm_fixed_points_in_boundary": code})
        assert problem.startswith(
            "mm_fixed_points_in_boundary: expected a list of [x, y] or [x, y, weight], got "
        )
        assert not marker.exists()
        assert one_problem({"flux_factor": "[1, 2] + [3]"}).startswith("flux_factor: expected")

    def test_yaml_number_for_flux_factor_defect_10(self):
        cfg = validate_parameters(yaml.safe_load("flux_factor: 1.0"), n_images=3)
        assert cfg.flux_factor == (1.0, 1.0, 1.0)
        cfg = validate_parameters({"flux_factor": 1.1})
        assert cfg.flux_factor == 1.1
        np.testing.assert_array_equal(cfg.flux_factors(3), [1.1, 1.1, 1.1])

    def test_yaml_number_for_two_element_params(self):
        cfg = validate_parameters({"la_sigclip": 5, "pc_rlim": 1.5, "la_objlim": np.float32(4)})
        assert cfg.la_sigclip == (5.0, 5.0) and cfg.pc_rlim == (1.5, 1.5)
        assert cfg.la_objlim == (4.0, 4.0)
        assert all(type(x) is float for x in cfg.la_sigclip)

    def test_numpy_scalars_become_python(self):
        cfg = validate_parameters(
            {"dilation": np.int64(2), "debug": np.bool_(True), "rnoise": np.float32(2.5)}
        )
        assert type(cfg.dilation) is int and cfg.dilation == 2
        assert type(cfg.debug) is bool and type(cfg.rnoise) is float

    def test_dtype_accepts_numpy_types(self):
        assert validate_parameters({"dtype": np.float64}).dtype == "float64"
        assert validate_parameters({"dtype": np.dtype("float32")}).dtype == "float32"
        assert one_problem({"dtype": np.int16}) == (
            "dtype: expected one of 'float32', 'float64', got 'int16'"
        )

    def test_tuples_accepted_for_regions_and_pixels(self):
        cfg = validate_parameters(
            {
                "regions_to_be_skipped": ((1, 10, 2, 20), (5, 6, 7, 8)),
                "pixels_to_be_flagged_as_cr": ((3, 4),),
                "pixels_to_be_replaced_by_local_median": ((5, 6, 3, 1),),
            },
            shape=(30, 40),
        )
        assert cfg.regions_to_be_skipped == (Region(1, 10, 2, 20), Region(5, 6, 7, 8))
        assert cfg.pixels_to_be_flagged_as_cr == ((3, 4),)
        assert cfg.pixels_to_be_replaced_by_local_median == ((5, 6, 3, 1),)

    def test_single_flat_region_and_colon_form(self):
        cfg = validate_parameters(
            {"regions_to_be_skipped": [1, 10, 2, 20], "mm_crosscorr_region": "[11:30, 5:14]"}
        )
        assert cfg.regions_to_be_skipped == (Region(1, 10, 2, 20),)
        assert cfg.mm_crosscorr_region == Region(11, 30, 5, 14)


BAD_VALUES = [
    ("crmethod", "MMCOSMIC", "expected one of 'lacosmic', 'pycosmic'"),
    ("color_scale", "linear", "expected one of 'minmax', 'zscale', got 'linear'"),
    ("apply_flux_factor_to", None, "expected one of 'original', 'simulated', got None"),
    ("la_cleantype", 3, "expected one of 'median', 'medmask', 'meanmask', 'idw', got 3"),
    ("la_fsmode", "mean", "expected one of 'median', 'convolve', got 'mean'"),
    ("la_psfmodel", "airy", "expected one of 'gauss', 'moffat', 'gaussx', 'gaussy', 'gaussxy'"),
    ("mm_photon_distribution", "gauss", "expected one of 'poisson', 'nbinom', got 'gauss'"),
    ("mm_synthetic", "mean", "expected one of 'median', 'single', got 'mean'"),
    ("mm_boundary_fit", "linear", "expected one of 'spline', 'piecewise', got 'linear'"),
    ("dc_mask", "ACS_WFC", "expected one of 'ACS-WFC', 'WFC3-UVIS', got 'ACS_WFC'"),
    ("nn_model", "ground", "expected one of 'ground_imaging', 'NRES', 'HST_ACS_WFC'"),
    ("dtype", "int", "expected one of 'float32', 'float64', got 'int'"),
    ("interactive", 1, "expected a boolean (true or false), got 1"),
    ("debug", "yes", "expected a boolean (true or false), got 'yes'"),
    ("dilation", 1.0, "expected an integer >= 0, got 1.0"),
    ("dilation", -1, "expected an integer >= 0, got -1"),
    ("mm_dilation", True, "expected an integer >= 0, got True"),
    ("semiwindow", -2, "expected an integer >= 0, got -2"),
    ("maxplots", 2.5, "expected an integer, got 2.5"),
    ("mm_nsimulations", 0, "expected an integer > 0, got 0"),
    ("mm_niter_boundary_extension", -1, "expected an integer >= 0, got -1"),
    ("mm_weight_boundary_extension", 0.5, "expected a finite number >= 1, got 0.5"),
    ("mm_knots_splfit", 1, "expected an integer >= 2, got 1"),
    ("mm_cr_coincidences", 1, "expected an integer >= 2, got 1"),
    ("mm_hist2d_min_neighbors", 9, "expected an integer in [0, 8], got 9"),
    ("mm_hist2d_min_neighbors", -1, "expected an integer in [0, 8], got -1"),
    ("la_psfsize", 4, "expected an odd integer >= 3, got 4"),
    ("la_psfsize", 1, "expected an odd integer >= 3, got 1"),
    ("la_padwidth", -1, "expected an integer >= 0, got -1"),
    ("la_niter", 0, "expected an integer >= 1, got 0"),
    ("pc_iterations", 0, "expected an integer >= 1, got 0"),
    ("pc_replace_box_x", 4, "expected an odd integer >= 1, got 4"),
    ("pc_replace_box_y", 0, "expected an odd integer >= 1, got 0"),
    ("dc_threshold", 1.0, "expected a finite number in (0, 1), got 1.0"),
    ("nn_threshold", 0, "expected a finite number in (0, 1), got 0"),
    ("gain", 0, "expected a finite number > 0 or a 2-D array of them, got 0"),
    ("gain", {"value": 1}, "expected a finite number > 0 or a 2-D array of them, got {'value'"),
    ("rnoise", -0.1, "expected a finite number >= 0 or a 2-D array of them, got -0.1"),
    ("bias", float("nan"), "expected a finite number or a 2-D array of them, got nan"),
    ("la_satlevel", [1.0], "expected a finite number > 0, got [1.0]"),
    ("la_sigclip", [5, 3, 1], "expected a number or a list of 2 finite numbers > 0, got [5, 3, 1]"),
    ("pc_sigma_det", [5, float("inf")], "expected a number or a list of 2 finite numbers > 0"),
    ("mm_seed", -1, "expected an integer >= 0 or null, got -1"),
    ("mm_seed", 1.5, "expected an integer >= 0 or null, got 1.5"),
    ("mm_threshold", -1, "expected a finite number >= 0 or null, got -1"),
    ("flux_factor", [1.0, -1.0, 1.0], "expected 'none', 'auto', a number > 0 or a list"),
    ("flux_factor", "median", "expected 'none', 'auto', a number > 0 or a list"),
    ("mm_xy_offsets", [[0, 0], [1]], "expected item 2 to be [dx, dy] of 2 finite numbers, got [1]"),
    ("mm_fixed_points_in_boundary", [[1, 2, 3, 4]], "expected item 1 to be [x, y] or [x, y, w"),
    ("mm_fixed_points_in_boundary", [[1, 2, 0]], "expected item 1 to have a weight > 0"),
    ("regions_to_be_skipped", [[1, 2, 3]], "region 1: expected [xmin, xmax, ymin, ymax] of 4 int"),
    ("regions_to_be_skipped", [[1.0, 2, 3, 4]], "region 1: expected [xmin, xmax, ymin, ymax]"),
    ("regions_to_be_skipped", [[5, 2, 3, 4]], "region 1: expected xmin <= xmax and ymin <= ymax"),
    ("regions_to_be_skipped", [[0, 2, 3, 4]], "expected region limits >= 1 (FITS convention)"),
    ("flux_factor_regions", {"a": 1}, "expected a list of [xmin, xmax, ymin, ymax] of 4 int"),
    ("pixels_to_be_ignored_as_cr", [[1, 2], [3]], "expected item 2 to be [X, Y] of 2 integers"),
    ("pixels_to_be_flagged_as_cr", 5, "expected a list of [X, Y] of 2 integers, got 5"),
    (
        "pixels_to_be_replaced_by_local_median",
        [[3, 3, 2, 1]],
        "expected item 1 to have odd widths >= 1 with Xwidth * Ywidth >= 3, got [3, 3, 2, 1]",
    ),
    (
        "pixels_to_be_replaced_by_local_median",
        [[3, 3, 1, 1]],
        "expected item 1 to have odd widths >= 1 with Xwidth * Ywidth >= 3",
    ),
    ("mm_crosscorr_region", [1, 9, 1, 11], "expected a region of at least 100 pixels, got"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES)
def test_bad_value_message(name, value, message):
    problem = one_problem({name: value})
    assert problem.startswith(f"{name}: "), problem
    assert message in problem, problem


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("la_niter", {"a": 1}),
        ("crmethod", {"a": 1}),
        ("la_satlevel", {"a": 1}),
        ("interactive", {"a": 1}),
        ("la_sigclip", {"a": 1}),
    ],
)
def test_dict_where_scalar_expected(name, value):
    assert re.fullmatch(rf"{name}: expected .*, got \{{'a': 1\}}", one_problem({name: value}))


class TestContextChecks:
    def test_regions_inside_image(self):
        shape = (50, 40)  # ny, nx
        validate_parameters({"regions_to_be_skipped": [[1, 40, 1, 50]]}, shape=shape)
        assert one_problem({"regions_to_be_skipped": [[1, 41, 1, 50]]}, shape=shape) == (
            "regions_to_be_skipped: region 1: expected a region inside the image "
            "(xmax <= NAXIS1 = 40, ymax <= NAXIS2 = 50), got [1, 41, 1, 50]"
        )

    def test_pixels_inside_image(self):
        shape = (50, 40)
        validate_parameters({"pixels_to_be_ignored_as_cr": [[40, 50]]}, shape=shape)
        assert one_problem({"pixels_to_be_ignored_as_cr": [[40, 51]]}, shape=shape) == (
            "pixels_to_be_ignored_as_cr: expected item 1 inside the image "
            "(1 <= X <= 40, 1 <= Y <= 50), got [40, 51]"
        )

    def test_flux_factor_length(self):
        assert one_problem({"flux_factor": [1.0, 1.1]}, n_images=3) == (
            "flux_factor: expected one factor per exposure (3), got 2 factors"
        )
        cfg = validate_parameters({"flux_factor": [1.0, 1.1]})  # length unknown yet
        with pytest.raises(ConfigError, match=r"^flux_factor: expected one factor per exposure"):
            cfg.flux_factors(3)

    def test_offsets_length(self):
        assert one_problem({"mm_xy_offsets": [[0, 0], [1, 1]]}, n_images=3) == (
            "mm_xy_offsets: expected one [dx, dy] pair per exposure (3), got 2 pairs"
        )

    def test_coincidences_need_enough_images(self):
        validate_parameters({"mm_cr_coincidences": 3}, n_images=4)
        assert one_problem({"mm_cr_coincidences": 3}, n_images=3) == (
            "mm_cr_coincidences: expected at most n_images - 1 = 2, got 3"
        )

    def test_bad_context(self):
        with pytest.raises(ConfigError, match=r"^n_images: expected an integer >= 3, got 2$"):
            validate_parameters(n_images=2)
        with pytest.raises(ConfigError, match=r"^shape: expected \(ny, nx\) of 2 positive"):
            validate_parameters(shape=(10,))

    def test_gain_array(self):
        gain = np.full((4, 5), 2.0)
        gain[0, 0] = 2.5
        cfg = validate_parameters({"gain": gain, "crmethod": "mmcosmic"}, shape=(4, 5))
        assert cfg.gain_scalar is None and cfg.rnoise_scalar == 3.4
        assert not cfg.gain.flags.writeable
        assert cfg.gain is not gain
        np.testing.assert_array_equal(cfg.gain, gain)
        assert gain.flags.writeable and gain[0, 0] == 2.5  # input untouched
        assert one_problem({"gain": gain}, shape=(5, 4)) == (
            "gain: expected an array of the image shape (5, 4), got array of shape (4, 5)"
        )
        assert one_problem({"gain": gain}) == (
            "gain: expected a uniform value for crmethod 'mm_pycosmic' "
            "(the pycosmic detector needs one number), got array of shape (4, 5)"
        )
        assert one_problem({"gain": -gain, "crmethod": "mmcosmic"}) == (
            "gain: expected every array value > 0, got min = -2.5"
        )
        uniform = validate_parameters({"rnoise": np.full((3, 3), 4.0)})
        assert uniform.rnoise_scalar == 4.0


class TestCrossChecks:
    def test_verify_cr_requires_interactive(self):
        assert one_problem({"verify_cr": True, "interactive": False}) == (
            "verify_cr: expected false when interactive is false, got True"
        )
        assert validate_parameters({"verify_cr": True}).verify_cr is True

    @pytest.mark.parametrize("method", ["conn", "mm_conn", "mmcosmic"])
    def test_use_auxmedian_needs_a_cleaned_image(self, method):
        assert one_problem({"use_auxmedian": True, "crmethod": method}) == (
            f"use_auxmedian: expected false with crmethod {method!r} "
            "(no Aux-cleaned image), got True"
        )

    @pytest.mark.parametrize("method", ["lacosmic", "mm_pycosmic", "mm_deepcr"])
    def test_use_auxmedian_allowed(self, method):
        assert validate_parameters({"use_auxmedian": True, "crmethod": method}).use_auxmedian

    def test_flux_factor_regions_require_auto(self):
        regions = [[1, 10, 1, 10]]
        assert one_problem({"flux_factor_regions": regions}) == (
            "flux_factor_regions: expected null unless flux_factor is 'auto', got [[1, 10, 1, 10]]"
        )
        cfg = validate_parameters({"flux_factor_regions": regions, "flux_factor": "auto"})
        assert cfg.flux_factor == "auto" and cfg.flux_factors(3) is None

    def test_single_synthetic_rules(self):
        base = {"mm_synthetic": "single"}
        validate_parameters({**base, "flux_factor": [1, 1, 1]})
        validate_parameters({**base, "flux_factor": "auto"})
        assert one_problem({**base, "flux_factor": [1, 1.1, 1]}) == (
            "mm_synthetic: expected 'median' with flux factors different from 1, got 'single'"
        )
        assert one_problem({**base, "mm_xy_offsets": [[0, 0]] * 3}) == (
            "mm_synthetic: expected 'median' when mm_xy_offsets is given, got 'single'"
        )
        assert one_problem({**base, "mm_crosscorr_region": [1, 10, 1, 10]}) == (
            "mm_synthetic: expected 'median' when mm_crosscorr_region is given, got 'single'"
        )
        assert one_problem({**base, "crmethod": "mmcosmic"}) == (
            "mm_synthetic: expected 'median' with crmethod 'mmcosmic' "
            "('single' needs an Aux detector), got 'single'"
        )

    def test_piecewise_needs_two_points(self):
        params = {"mm_boundary_fit": "piecewise", "mm_fixed_points_in_boundary": [[1, 2]]}
        assert one_problem(params) == (
            "mm_fixed_points_in_boundary: expected at least 2 points with "
            "mm_boundary_fit 'piecewise', got 1"
        )
        cfg = validate_parameters(
            {"mm_boundary_fit": "piecewise", "mm_fixed_points_in_boundary": [[1, 2], [30, 4]]}
        )
        assert cfg.mm_fixed_points_in_boundary == ((1.0, 2.0, 1e4), (30.0, 4.0, 1e4))

    def test_nbinom_shape_only_checked_for_nbinom_defect_12(self):
        assert validate_parameters({"mm_nbinom_shape": -1}).mm_nbinom_shape == -1.0
        assert one_problem({"mm_nbinom_shape": -1, "mm_photon_distribution": "nbinom"}) == (
            "mm_nbinom_shape: expected a number > 0 with 'nbinom', got -1.0"
        )

    def test_threshold_alias_exclusive(self):
        assert one_problem({"mm_threshold": 5.0, "mm_threshold_rnoise": 2.0}) == (
            "mm_threshold: expected null when mm_threshold_rnoise is given "
            "(2.0; they are alternatives), got 5.0"
        )

    def test_mm_rules_ignored_without_mm(self):
        cfg = validate_parameters(
            {"crmethod": "lacosmic", "mm_boundary_fit": "piecewise", "mm_synthetic": "single"}
        )
        assert not cfg.uses_mm

    def test_mmcosmic_accepted_defect_5_and_dc_mask_default_defect_11(self):
        cfg = validate_parameters({"crmethod": "mmcosmic"})
        assert cfg.uses_mm and cfg.aux_name is None and cfg.detector_params() == {}
        assert validate_parameters({"crmethod": "deepcr"}).dc_mask == "ACS-WFC"


class TestCRConfig:
    @pytest.mark.parametrize(
        ("method", "uses_mm", "aux"),
        [
            ("lacosmic", False, "lacosmic"),
            ("pycosmic", False, "pycosmic"),
            ("deepcr", False, "deepcr"),
            ("conn", False, "conn"),
            ("mmcosmic", True, None),
            ("mm_lacosmic", True, "lacosmic"),
            ("mm_pycosmic", True, "pycosmic"),
            ("mm_deepcr", True, "deepcr"),
            ("mm_conn", True, "conn"),
        ],
    )
    def test_method_properties(self, method, uses_mm, aux):
        cfg = validate_parameters({"crmethod": method})
        assert (cfg.uses_mm, cfg.aux_name) == (uses_mm, aux)
        prefix = {"lacosmic": "la_", "pycosmic": "pc_", "deepcr": "dc_", "conn": "nn_"}
        params = cfg.detector_params()
        if aux is None:
            assert params == {}
        else:
            expected = [n for n in PARAMETERS if n.startswith(prefix[aux])]
            assert list(params) == expected

    def test_threshold(self):
        cfg = validate_parameters({"mm_threshold_rnoise": 2.0})
        assert cfg.threshold(3.0) == 6.0 and cfg.threshold(None) == 0.0
        cfg = validate_parameters({"mm_threshold": 12.5})
        assert cfg.threshold(3.0) == 12.5 and cfg.threshold(None) == 12.5

    def test_replace_revalidates(self):
        cfg = validate_parameters({"mm_xy_offsets": [[0, 0]] * 3}, n_images=3, shape=(20, 20))
        new = cfg.replace(mm_knots_splfit=5, mm_hist2d_min_neighbors=2)
        assert (new.mm_knots_splfit, new.mm_hist2d_min_neighbors) == (5, 2)
        assert new.n_images == 3 and new.shape == (20, 20)
        assert cfg.mm_knots_splfit == 3
        assert cfg.replace() == cfg
        with pytest.raises(
            ConfigError, match=r"^mm_knots_splfit: expected an integer >= 2, got 1$"
        ):
            cfg.replace(mm_knots_splfit=1)
        with pytest.raises(ConfigError, match=r"region 1: expected a region inside the image"):
            cfg.replace(regions_to_be_skipped=[[1, 30, 1, 5]])
        with pytest.raises(ConfigError, match=r"^unknown parameter 'xdiag_min'"):
            cfg.replace(xdiag_min=3.0)

    def test_as_dict_is_yaml_safe_and_round_trips(self):
        cfg = validate_parameters(
            {
                "regions_to_be_skipped": [[1, 3, 1, 4]],
                "mm_fixed_points_in_boundary": [[1, 2]],
                "mm_xy_offsets": [[0, 0], [1, 1], [2, 2]],
                "gain": np.full((6, 5), 1.5),
                "flux_factor": 1.2,
            },
            n_images=3,
            shape=(6, 5),
        )
        plain = cfg.as_dict()
        assert list(plain) == list(PARAMETERS)
        assert plain["regions_to_be_skipped"] == [[1, 3, 1, 4]]
        assert plain["la_sigclip"] == [5.0, 3.0]
        text = yaml.safe_dump(plain)  # raises on tuples, numpy objects, Region
        again = validate_parameters(yaml.safe_load(text), n_images=3, shape=(6, 5))
        assert again == cfg

    def test_as_params_revalidates_with_context(self):
        gain = np.full((6, 5), 1.5)
        cfg = validate_parameters({"gain": gain, "flux_factor": 1.2})
        params = cfg.as_params()
        assert params["gain"] is cfg.gain  # no copy, no list conversion
        again = validate_parameters(params, n_images=4, shape=(6, 5))
        assert again.flux_factor == (1.2,) * 4 and again.shape == (6, 5)
        with pytest.raises(ConfigError, match=r"^gain: expected an array of the image shape"):
            validate_parameters(params, shape=(5, 6))

    def test_equality_with_arrays(self):
        a = validate_parameters({"bias": np.zeros((2, 2))})
        b = validate_parameters({"bias": np.zeros((2, 2))})
        c = validate_parameters({"bias": np.ones((2, 2))})
        assert a == b and a != c and a != validate_parameters()

    def test_history_lines(self):
        cfg = validate_parameters(
            {
                "regions_to_be_skipped": [[i, i + 10, 1, 20] for i in range(1, 40, 3)],
                "gain": np.full((30, 60), 1.0),
                "dtype": np.float32,
            },
            shape=(30, 60),
        )
        lines = cfg.history_lines(mm_threshold=6.8)
        assert all(len(line) <= 72 for line in lines)
        assert "gain = array of shape (30, 60)" in lines
        assert "dtype = 'float32'" in lines
        assert lines[-1] == "mm_threshold (derived) = 6.8"
        assert not any("<" in line for line in lines)
        start = next(i for i, line in enumerate(lines) if line.startswith("regions_to_be_skipped"))
        wrapped = [lines[start]]
        for line in lines[start + 1 :]:
            if not line.startswith("  "):
                break
            wrapped.append(line)
        assert len(wrapped) > 1
        assert " ".join(part.strip() for part in wrapped) == (
            "regions_to_be_skipped = " + str([[i, i + 10, 1, 20] for i in range(1, 40, 3)])
        )
        names = {line.split(" = ")[0] for line in lines if not line.startswith("  ")}
        assert "pc_sigma_det" in names and "mm_nsimulations" in names
        assert not any(n.startswith(("la_", "dc_", "nn_")) for n in names)

    @pytest.mark.parametrize(
        ("method", "groups"),
        [("lacosmic", {"la"}), ("mmcosmic", {"mm"}), ("mm_conn", {"nn", "mm"})],
    )
    def test_history_relevant_groups(self, method, groups):
        lines = validate_parameters({"crmethod": method}).history_lines()
        names = [line.split(" = ")[0] for line in lines if not line.startswith("  ")]
        assert {PARAMETERS[n].group for n in names} == {"general"} | groups
        assert "mm_threshold (derived)" not in names

    def test_effective_maxplots(self):
        assert validate_parameters({"maxplots": -1}).effective_maxplots == 1000
        assert validate_parameters({"maxplots": 5000}).effective_maxplots == 1000
        assert validate_parameters({"maxplots": 0}).effective_maxplots == 0


class TestRegions:
    def test_slices_follow_fits_convention(self):
        image = np.arange(6 * 8).reshape(6, 8)  # ny=6, nx=8
        region = Region(2, 4, 3, 6)
        sub = image[region.slices]
        assert sub.shape == (4, 3) and region.area == 12
        assert sub[0, 0] == image[2, 1]  # FITS (X=2, Y=3)

    def test_regions_mask_and_pixel_indices(self):
        mask = regions_mask([Region(1, 2, 1, 1), Region(4, 4, 3, 4)], (4, 5))
        assert mask.sum() == 4 and mask[0, 0] and mask[0, 1] and mask[2, 3] and mask[3, 3]
        rows, cols = pixel_indices([(1, 1), (5, 4)])
        assert rows.tolist() == [0, 3] and cols.tolist() == [0, 4]


def test_regions_against_a_real_frame_shape():
    """A SPRAT frame (1024 x 254 pixels, NAXIS1 x NAXIS2) bounds regions and pixels."""
    path = DATA / "aspired_sprat_LHS6328" / "v_e_20180810_12_1_0_0.fits.gz"
    if not path.exists():
        pytest.skip(f"real data not found in {DATA} (expected ../shared/data beside the repo)")
    from astropy.io import fits

    header = fits.getheader(path)
    shape = (header["NAXIS2"], header["NAXIS1"])
    assert shape == (254, 1024)
    cfg = validate_parameters(
        {"regions_to_be_skipped": [[1, 3, 1, 254]], "pixels_to_be_flagged_as_cr": [[1024, 254]]},
        n_images=5,
        shape=shape,
    )
    assert cfg.regions_to_be_skipped[0].slices == (slice(0, 254), slice(0, 3))
    assert one_problem({"mm_crosscorr_region": [1000, 1025, 1, 10]}, shape=shape) == (
        "mm_crosscorr_region: expected a region inside the image "
        "(xmax <= NAXIS1 = 1024, ymax <= NAXIS2 = 254), got [1000, 1025, 1, 10]"
    )


def test_configuration_md_example_is_valid():
    """The YAML example of docs/configuration.md validates."""
    text = (REPO / "docs" / "configuration.md").read_text()
    block = text.split("```yaml\n")[-1].split("```")[0]
    requirements = yaml.safe_load(block)["requirements"]
    cfg = validate_parameters(requirements, n_images=3, shape=(1596, 2016))
    assert cfg.mm_crosscorr_region == Region(214, 320, 651, 733)
    assert cfg.mm_fixed_points_in_boundary[1] == (200.0, 450.0, 1000.0)
    assert cfg.pc_rlim == (1.2, 1.2) and cfg.regions_to_be_skipped == ()
