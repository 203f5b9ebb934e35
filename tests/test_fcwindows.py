"""Features and fit windows of the flux-change test from the sparse detections (_fcwindows)."""

from __future__ import annotations

import numpy as np
import pytest

from megara_crplugin import fluxchange
from megara_crplugin._fcwindows import grown, window_groups, window_groups_by_labelling


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when the two label arrays group the same items (numbers may differ)."""
    pairs = np.unique(np.column_stack([a, b]), axis=0)
    return len(np.unique(pairs[:, 0])) == len(pairs) == len(np.unique(pairs[:, 1]))


def _mask(seed: int, shape=(97, 131), density=0.004) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < density
    mask[0, :3] = mask[-1, -2:] = mask[40:43, 0] = True  # on the edges
    mask[50:58, 60:70] = True  # a blob larger than the window: an inside far from its edge
    mask[np.arange(10, 30), np.arange(100, 120)] = True  # a diagonal track
    return mask


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("window", [0, 1, 6])
def test_the_same_features_windows_and_groups_as_the_labelled_frames(seed, window):
    flags = _mask(seed)
    lab, nlab, wy, wx, grp, ngroups = window_groups(flags, window)
    ref = window_groups_by_labelling(flags, window, grown(flags, window))
    assert np.array_equal(wy, ref[2]) and np.array_equal(wx, ref[3])  # same pixels, same order
    assert (nlab, ngroups) == (ref[1], ref[5])
    assert _same_partition(lab, ref[0]) and _same_partition(grp, ref[4])
    assert lab.min() == 1 and lab.max() == nlab and grp.min() == 1 and grp.max() == ngroups


def test_windows_touching_diagonally_join_one_group_and_one_pixel_apart_do_not():
    flags = np.zeros((60, 60), dtype=bool)
    flags[10, 10] = flags[23, 23] = True  # squares of side 13 touch at a corner
    flags[40, 10] = flags[40, 24] = True  # one free column between the squares
    _, nlab, _, _, grp, ngroups = window_groups(flags, 6)
    assert nlab == 4 and ngroups == 3


def test_rejection_is_the_same_with_the_sparse_and_the_labelled_windows(monkeypatch):
    rng = np.random.default_rng(4)
    y, x = np.mgrid[:120, :160]
    profile = 50 + 400 * np.exp(-0.5 * ((x - 80) / 2.0) ** 2)  # a line
    excess = 0.1 * profile + rng.normal(0, 3, profile.shape)
    flags = _mask(7, shape=profile.shape, density=0.01)
    excess[flags] += rng.uniform(0, 80, flags.sum())
    kw = dict(gain=1.0, rnoise=3.0, evidence_chi2=25.0)
    sparse_result = fluxchange.reject_flux_changes(flags, excess, profile, **kw)

    def labelled(f, w):
        return window_groups_by_labelling(f, w, grown(f, w))

    monkeypatch.setattr(fluxchange, "window_groups", labelled)
    dense_result = fluxchange.reject_flux_changes(flags, excess, profile, **kw)
    assert sparse_result.n_rejected == dense_result.n_rejected > 0
    assert np.array_equal(sparse_result.kept, dense_result.kept)


def test_clustered_detections_fall_back_to_the_labelled_frames(monkeypatch):
    from megara_crplugin import _fcwindows

    flags = _mask(3)
    assert window_groups(flags, 6) is not None
    monkeypatch.setattr(_fcwindows, "_COUNT_FROM", 10)
    monkeypatch.setattr(_fcwindows, "MAX_PAIRS", 100)  # this mask has more pairs than that
    assert window_groups(flags, 6) is None
    profile = np.full(flags.shape, 100.0)
    excess = np.where(flags, 60.0, 1.0)
    result = fluxchange.reject_flux_changes(flags, excess, profile, gain=1.0, rnoise=3.0)
    assert result.n_features > 0 and np.array_equal(result.kept, flags)  # flat: all kept
