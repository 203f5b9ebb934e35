"""Flux changes and the noise check on real frames from ../shared/data (issue 9, items 3-4).

WHT/ISIS arcs (r2701247-49 and r2701259/61/62, 4 s CuNe+CuAr, lamp drifting
between frames), the G93-48 star trace (r2701253/55/57) and LT/SPRAT LHS 6328
(5 x 120 s); loaders in ``tests/realdata_arcs.py``.  A new user's parameters:
gain, rnoise, bias, interactive false; everything else default.

The first three columns of the ISIS detector are defective (min2d far below
the bias): features there are defects (issue 9 item 2, not flux changes) and
are counted apart here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import realdata_arcs as R

from megara_crplugin.exceptions import CRPluginWarning
from megara_crplugin.noisecheck import INTEGRATED_SIGMA_LIMIT
from megara_crplugin.pipeline import compute_crmasks

pytestmark = pytest.mark.slow

#: Columns (0-based, exclusive) of the ISIS defect at the left edge.
DEFECT_COLUMNS = 4


def _run(frames, params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute_crmasks(frames, params)
    messages = [str(w.message) for w in caught if issubclass(w.category, CRPluginWarning)]
    return result, messages


@pytest.fixture(scope="module", params=["A", "B"])
def arc_run(request, shared_data_dir):
    names = R.ISIS_ARCS_A if request.param == "A" else R.ISIS_ARCS_B
    frames = R.isis_frames(names, shared_data_dir)
    return request.param, frames, *_run(frames, R.isis_params())


def test_arc_triplet_few_features_and_non_equivalence_warning(arc_run):
    name, _, result, messages = arc_run
    away = [f for f in result.features if f.xs.min() >= DEFECT_COLUMNS]
    print(
        f"arcs {name}: {len(result.features)} features, {len(away)} away from the defect, "
        f"{result.flux_changes['MEDIANCR']} flux changes"
    )
    assert len(away) <= 10
    # several hundred before (see CHANGELOG); with all of issue 9 merged (defects and
    # corroboration take their share first) 100 on arcs B
    assert result.flux_changes["MEDIANCR"] >= 50
    nc = result.noise_check
    assert nc is not None and not nc.equivalent
    assert nc.above_boundary_flux > 100 and nc.above_boundary_expected < 5
    # the lamp drift scales the integrated flux of the lines: 18.3 / 22.1 sigma measured
    assert nc.flux_change_sigma > INTEGRATED_SIGMA_LIMIT
    assert any(m.startswith("exposures not equivalent") and "flux_factor" in m for m in messages)


def test_arc_single_frame_cosmic_rays_survive(arc_run):
    """Pixels > 8 sigma above the median in one frame only, away from lines, stay in CRMASKi."""
    _, _, result, _ = arc_run
    st = result.stats
    sigma = np.sqrt(np.clip(st.median2d, 0, None) / R.ISIS_GAIN + R.ISIS_RNOISE**2)
    dark = st.median2d < 100  # no arc line
    dark[:, :DEFECT_COLUMNS] = False
    total = kept = 0
    for i in range(st.n_frames):
        hits = ((st.stack[i] - st.median2d) > 12 * sigma) & dark
        total += int(hits.sum())
        kept += int((hits & result.targets[f"CRMASK{i + 1}"].mask).sum())
    assert total >= 10 and kept == total


def test_sprat_star_trace_gives_no_features(shared_data_dir):
    result, messages = _run(R.sprat_frames(data_dir=shared_data_dir), R.sprat_params())
    assert len(result.features) == 0
    # seeing on the trace: 2.2 sigma integrated change (< INTEGRATED_SIGMA_LIMIT), no warning
    assert result.noise_check.equivalent
    assert not any(m.startswith("exposures not equivalent") for m in messages)
    assert result.noise_check.rnoise_measured == pytest.approx(R.SPRAT_RNOISE, rel=0.15)


def test_g93_trace_no_flux_change_features_but_injected_double_hits_kept(shared_data_dir):
    frames = [f[:, 300:700].copy() for f in R.isis_frames(R.ISIS_G93, shared_data_dir)]
    clean, _ = _run(frames, R.isis_params())
    on_trace = [f for f in clean.features if abs(np.mean(f.xs) - 166) < 8]
    assert on_trace == []
    # sharp double hits on the trace core and on the sky: kept
    rng = np.random.default_rng(9)
    ys = rng.choice(np.arange(100, 4000, 50), size=30, replace=False)
    xs = np.where(np.arange(30) % 2 == 0, 166, 60)
    amp = 400.0  # ADU: about 12 sigma on the trace core, 40 on the sky
    for f in frames[:2]:
        f[ys, xs] += amp
    hit, _ = _run(frames, R.isis_params())
    med = hit.targets["MEDIANCR"].mask
    assert med[ys, xs].sum() >= 29
