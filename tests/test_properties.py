"""Issue 10: property-based tests (hypothesis) with a fixed, derandomized example budget.

* random parameter dictionaries and YAML documents against the schema: valid
  ones accepted, invalid ones rejected with a message naming a key, never an
  unhandled exception;
* random small FITS frames (dtypes, BZERO, NaN patterns, shapes, extensions)
  against the reader;
* mask and combination invariants on random small scenes (MEDIANCR and CRMASKi
  within MEANCRT, finite outputs, inputs unchanged).
"""

from __future__ import annotations

import io
import math
import tempfile
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from megara_crplugin.cli import main
from megara_crplugin.combination import METHODS, combine_all
from megara_crplugin.config import PARAMETERS, ConfigError, CRConfig, validate_parameters
from megara_crplugin.exceptions import InputError
from megara_crplugin.inputs import check_frames, read_frames
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=12)

NAMES = sorted(PARAMETERS)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.text(max_size=12),
    st.sampled_from(["auto", "none", "null", "mmcosmic", "median", "original", "3"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=10)
keys = st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=10))


pytestmark = pytest.mark.usefixtures("restore_logging")


def _named(problem: str, params: dict) -> bool:
    return any(str(k) in problem or repr(k) in problem for k in params)


@FAST
@given(st.dictionaries(keys, values, max_size=6))
def test_random_parameters_are_accepted_or_rejected_naming_a_key(params):
    try:
        cfg = validate_parameters(params, n_images=3, shape=(40, 40))
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert _named(problem, params), problem
    else:
        assert isinstance(cfg, CRConfig)


@FAST
@given(st.lists(st.sampled_from(NAMES), unique=True, max_size=12))
def test_defaults_of_any_subset_of_keys_are_accepted(names):
    params = {n: PARAMETERS[n].default for n in names}
    assert isinstance(validate_parameters(params, n_images=3, shape=(40, 40)), CRConfig)


documents = st.one_of(
    st.text(max_size=80),
    st.dictionaries(
        st.sampled_from(["images", "extnum", "extname", "gain", "rnoise", "bias", "requirements"])
        | st.text(max_size=6),
        values | st.dictionaries(keys, values, max_size=3),
        max_size=5,
    ).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
)


@FAST
@given(documents)
def test_random_yaml_documents_give_one_line_and_no_output(text):
    with tempfile.TemporaryDirectory() as tmp:
        yml = Path(tmp) / "p.yaml"
        yml.write_text(text, encoding="utf-8")
        err = io.StringIO()
        with redirect_stderr(err):
            status = main([str(yml), "--output_dir", str(Path(tmp) / "out"), "--no-reports"])
        assert status == 1
        message = err.getvalue().strip()
        assert message.startswith("megara-crmasks: error: ") and "Traceback" not in message
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["p.yaml"]


@st.composite
def fits_frames(draw):
    kind = draw(st.sampled_from(["u1", "i2", "u2", "i4", "f4", "f8"]))
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    info = np.iinfo(kind) if kind[0] in "ui" else None
    lo, hi = (info.min, info.max) if info else (-1e6, 1e6)
    data = rng.uniform(max(lo, -1e6), min(hi, 1e6), size=shape).astype(kind)
    if kind[0] == "f" and draw(st.booleans()):
        mask = rng.random(shape) < draw(st.floats(0.05, 1.0))
        data[mask] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    in_extension = draw(st.booleans())
    return data, in_extension


@FAST
@given(fits_frames())
def test_reader_returns_the_pixels_or_names_the_file(frame):
    data, in_extension = frame
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.fits"
        hdus = [fits.PrimaryHDU()] if in_extension else []
        hdus.append(
            fits.ImageHDU(data, name="SCI", uint=True)
            if in_extension
            else fits.PrimaryHDU(data, uint=True)
        )
        fits.HDUList(hdus).writeto(path)
        if data.dtype == np.uint16:
            assert fits.getheader(path, len(hdus) - 1)["BZERO"] == 32768
        before = path.read_bytes()
        try:
            (got,) = read_frames([path])
        except InputError as exc:
            assert str(path) in str(exc) and data.ndim != 2
            return
        finally:
            assert path.read_bytes() == before
        assert data.ndim == 2 and got.dtype == np.float32
        np.testing.assert_array_equal(got, data.astype(np.float32))
        try:
            check_frames([got], names=[str(path)], min_frames=1)
        except InputError as exc:
            assert str(path) in str(exc) and not np.all(np.isfinite(data))
        else:
            assert np.all(np.isfinite(data))


@FAST
@given(
    st.one_of(st.integers(-3, 5), st.none()),
    st.one_of(st.none(), st.sampled_from(["SCI", "sci", "PRIMARY", "NOPE"])),
)
def test_reader_hdu_selection_is_checked(extnum, extname):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.fits"
        data = np.arange(12, dtype=np.float32).reshape(3, 4)
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")]).writeto(path)
        try:
            (got,) = read_frames([path], extnum=extnum, extname=extname)
        except InputError as exc:
            assert "extnum" in str(exc) or "extname" in str(exc) or str(path) in str(exc)
            return
        assert extnum in (None, 1) and (extname in (None, "SCI", "sci") or extnum is None)
        np.testing.assert_array_equal(got, data)


@SLOW
@given(
    st.integers(0, 10**6),
    st.integers(32, 48),
    st.integers(0, 3),
    st.integers(0, 2),
    st.sampled_from(["original", "simulated"]),
)
def test_mask_and_combination_invariants_on_random_scenes(seed, size, doubles, dilation, ffto):
    sset = make_megara_like_frames(
        (size, size), seed=seed, n_double_hits=doubles, flux_factors=(1.0, 1.1, 0.9)
    )
    frames = [f.copy() for f in sset.frames]
    params = {"crmethod": "mmcosmic", "interactive": False, "mm_nsimulations": 1, "maxplots": 0}
    params.update(gain=sset.gain, rnoise=sset.rnoise, dilation=dilation, mm_seed=seed)
    params.update(flux_factor="auto", apply_flux_factor_to=ffto)
    result = compute_crmasks(frames, params)
    m = result.masks
    assert not np.any(m["MEDIANCR"] & ~m["MEANCRT"])
    for i in range(1, 4):
        assert not np.any(m[f"CRMASK{i}"] & ~m["MEANCRT"])
    assert all(math.isfinite(f) and f > 0 for f in result.flux_factors)
    for name, comb in combine_all(frames, METHODS, masks=_masks_of(result)).items():
        assert np.all(np.isfinite(comb.data)) and np.all(np.isfinite(comb.variance)), name
        assert np.all(comb.variance >= 0) and comb.map.min() >= 1 and comb.map.max() <= 3
    for before, after in zip(sset.frames, frames, strict=True):
        np.testing.assert_array_equal(before, after)


def _masks_of(result):
    from megara_crplugin.crmasks_file import crmasks_hdulist, read_crmasks

    return read_crmasks(crmasks_hdulist(result))


@st.composite
def one_valid_value(draw):
    """One schema parameter of a simple kind and a value inside its declared range."""
    simple = [n for n in NAMES if PARAMETERS[n].kind in ("bool", "choice", "int", "float")]
    p = PARAMETERS[draw(st.sampled_from(simple))]
    if p.kind == "bool":
        return p.name, draw(st.booleans())
    if p.kind == "choice":
        return p.name, draw(st.sampled_from(p.choices))
    lo = p.minimum if p.minimum is not None else -1e6
    hi = p.maximum if p.maximum is not None else 1e6
    if p.kind == "int":
        lo_i = int(math.floor(lo)) + (1 if p.min_exclusive and float(lo).is_integer() else 0)
        lo_i = max(lo_i, math.ceil(lo))
        hi_i = int(math.ceil(hi)) - (1 if p.max_exclusive and float(hi).is_integer() else 0)
        hi_i = min(hi_i, math.floor(hi), lo_i + 1000)
        value = draw(st.integers(lo_i, hi_i))
        if p.odd and value % 2 == 0:
            value = value + 1 if value + 1 <= hi_i else value - 1
        return p.name, value
    value = draw(
        st.floats(lo, min(hi, lo + 1e6), exclude_min=p.min_exclusive, exclude_max=p.max_exclusive)
    )
    return p.name, value


@FAST
@given(one_valid_value())
def test_any_value_inside_the_declared_range_is_accepted(item):
    name, value = item
    n = value + 1 if name == "mm_cr_coincidences" else 3  # documented rule: <= N - 1
    params = {name: value, **COMPANIONS.get((name, value), {})}
    assert isinstance(validate_parameters(params, n_images=n, shape=(400, 400)), CRConfig)


#: Documented cross-parameter rules: what a value needs beside it (docs/parameters.md).
COMPANIONS = {
    ("mm_boundary_fit", "piecewise"): {"mm_fixed_points_in_boundary": [[0, 0], [1000, 100]]},
    ("mm_synthetic", "single"): {"crmethod": "mm_lacosmic"},
}
