"""Shared fixtures of the core tests: small synthetic triplets computed once per session.

The expensive part of the core is ``compute_crmasks`` (the simulations); the
fixtures here run it once per configuration on 256 x 256 synthetic MEGARA-like
frames with few simulations, and every contract/invariant test reads the same
result.  Real data live beside the repository in ``../shared/data``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from megara_crplugin.crmasks_file import crmasks_hdulist, write_crmasks
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames

#: Real evaluation data (read-only), beside the repository.
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"

#: Shape of the small synthetic frames of the contract tests.
SMALL_SHAPE = (256, 256)
#: Bias level (ADU) included in the small synthetic frames.
SMALL_BIAS = 100.0


def _mm_params(sset, **extra) -> dict:
    """Parameters of a fast, reproducible, non-interactive M.M.Cosmic run on ``sset``."""
    params = {
        "crmethod": "mmcosmic",
        "interactive": False,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": float(sset.bias),
        "mm_nsimulations": 3,
        "mm_seed": 1234,
        "maxplots": 0,
    }
    params.update(extra)
    return params


@pytest.fixture(scope="session")
def mm_params():
    """``mm_params(sset, **extra)``: parameters of a fast, reproducible M.M.Cosmic run."""
    return _mm_params


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real-data folder, or skip when it is not beside the repository."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"real data folder {DATA_DIR} (../shared/data beside the repo) is absent")
    return DATA_DIR


@pytest.fixture(scope="session")
def small_set():
    """A 256 x 256 synthetic triplet with 20 designed double hits (bias 100 ADU)."""
    return make_megara_like_frames(SMALL_SHAPE, seed=7, n_double_hits=20, bias=SMALL_BIAS)


@pytest.fixture(scope="session")
def small_frames_copy(small_set):
    """An untouched copy of the small triplet, to prove the inputs are never modified."""
    return small_set.frames.copy()


@pytest.fixture(scope="session")
def small_result(small_set, small_frames_copy):
    """``compute_crmasks`` of :func:`small_set` (dilation 1, the default)."""
    return compute_crmasks(list(small_set.frames), _mm_params(small_set))


@pytest.fixture(scope="session")
def small_result_dil2(small_set):
    """The same triplet with ``dilation: 2``."""
    return compute_crmasks(list(small_set.frames), _mm_params(small_set, dilation=2))


@pytest.fixture(scope="session")
def small_crmasks_path(small_result, tmp_path_factory) -> Path:
    """``crmasks.fits`` of :func:`small_result`, written once."""
    path = tmp_path_factory.mktemp("small_crmasks") / "crmasks.fits"
    write_crmasks(crmasks_hdulist(small_result), path)
    return path


@pytest.fixture(scope="session")
def triple_set():
    """A 256 x 256 triplet with bright designed triple hits (no faint ones)."""
    return make_megara_like_frames(
        SMALL_SHAPE, seed=3, n_double_hits=5, n_triple_hits=4, faint_fraction=0.0
    )


@pytest.fixture
def restore_logging():
    """Undo what a command run did to the root logger (handlers, level, warnings capture)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.captureWarnings(False)
