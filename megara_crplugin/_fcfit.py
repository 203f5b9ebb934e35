"""The per-group window fits of the flux-change test (internal).

:func:`megara_crplugin.fluxchange.reject_flux_changes` works on the pixels of
the windows around the detections, as compressed 1-D arrays (``wy, wx``: their
coordinates, ``grp``: their group); these helpers build the model's basis and
solve the weighted least-squares fit of every group at once with
``np.bincount``.  Units: ADU; weights 1 / ADU**2.
"""

from __future__ import annotations

import numpy as np

from .noise_values import value_at

__all__ = [
    "at_pixels",
    "basis_of",
    "fit_limit",
    "open_groups",
    "sampler",
    "slope_level",
    "window_fit",
]


def fit_limit(change, var, nsigma, tolerance):
    """Largest residual a flux change may leave (ADU); ``change`` = fitted flux-change part."""
    return np.hypot(nsigma * np.sqrt(var), tolerance * np.abs(change))


def sampler(profile, flags, at_flags):
    """``sample(ys, xs)``: the profile at those pixels, ``at_flags`` where ``flags``.

    ``at_flags`` is an image, or anything giving its values as ``at_flags[ys, xs]``
    (:class:`~megara_crplugin._mediancr_run.LowerOf`).
    """
    profile = np.asarray(profile)

    def sample(ys, xs):
        values = profile[ys, xs]
        if at_flags is None:
            return values
        # np.where(flags, at_flags, values), reading at_flags only where flagged
        on = np.flatnonzero(flags[ys, xs])  # a few per cent of the window pixels
        there = at_flags[ys[on], xs[on]]
        values = values.astype(np.result_type(values, there), copy=False)
        values[on] = there
        return values

    return sample


def basis_of(sample, shape, wy, wx, p, grp, ngroups):
    """Basis of the flux-change model on the window pixels ``(wy, wx)``.

    The profile above its group's lowest level (on flat sky a scale of the
    constant signal is an offset and must not widen the tolerance), the
    modulus of its gradient and the gradient itself (a sub-pixel shift of a
    sharp profile changes the flux most on its flanks).  ``sample(ys, xs)``
    gives the profile at any pixels.
    """
    ny, nx = shape

    def at(dy, dx):
        return sample(np.clip(wy + dy, 0, ny - 1), np.clip(wx + dx, 0, nx - 1)).astype(np.float64)

    d_y = 0.5 * (at(1, 0) - at(-1, 0))
    d_x = 0.5 * (at(0, 1) - at(0, -1))
    floor = np.full(ngroups + 1, np.inf)
    np.minimum.at(floor, grp, p)  # groups without window pixels (settled) stay unused
    floor[0] = 0.0
    return [p - floor[grp], np.hypot(d_y, d_x), d_y, d_x]


def window_fit(groups, used, excess, basis, weight, ngroups, nonneg):
    """Per-group weighted fit ``excess = sum_k c_k * basis_k + b`` on ``used``.

    ``c_k >= 0`` where ``nonneg[k]`` (the scale and the slope terms).  The
    sums run over every window pixel with weight 0 off ``used`` (adding exact
    zeros: the sums of the used pixels alone, without copying them).

    Returns ``coef`` (ngroups + 1, K) and ``b`` (ngroups + 1,).
    """
    w = np.where(used, weight, 0.0)
    cols = [None, *basis]  # None: the constant
    k = len(cols)
    normal = np.zeros((ngroups + 1, k, k))
    rhs = np.zeros((ngroups + 1, k))
    for i in range(k):
        wi = w if cols[i] is None else w * cols[i]
        rhs[:, i] = np.bincount(groups, weights=wi * excess, minlength=ngroups + 1)
        for j in range(i, k):
            term = wi if cols[j] is None else wi * cols[j]
            normal[:, i, j] = normal[:, j, i] = np.bincount(
                groups, weights=term, minlength=ngroups + 1
            )
        del wi
    scale = np.maximum(np.einsum("gii->g", normal), 1e-300)
    normal += 1e-9 * scale[:, None, None] * np.eye(k)
    sol = np.linalg.solve(normal, rhs[..., None])[..., 0]
    coef = np.nan_to_num(sol[:, 1:])
    coef[:, list(nonneg)] = np.clip(coef[:, list(nonneg)], 0.0, None)
    sw = normal[:, 0, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (rhs[:, 0] - np.einsum("gk,gk->g", normal[:, 0, 1:], coef)) / sw
    return coef, np.nan_to_num(b)


def open_groups(settled, lab, wy, wx, grp, is_flag):
    """Keep the window pixels of the groups with a detection outside ``settled``.

    Returns ``lab, wy, wx, grp, is_flag`` restricted to those groups (same
    order, so every per-group sum is unchanged) and the labels of the
    features left out (``closed``: kept untested).
    """
    grp_of_flag = grp[is_flag]
    is_open = np.zeros(int(grp.max()) + 1, dtype=bool)
    is_open[grp_of_flag[~settled[wy[is_flag], wx[is_flag]]]] = True
    keep, keep_flag = is_open[grp], is_open[grp_of_flag]
    closed = lab[~keep_flag]
    return lab[keep_flag], wy[keep], wx[keep], grp[keep], is_flag[keep], closed


def at_pixels(value, wy, wx):
    """``value`` (scalar or image) at the window pixels, float64; a scalar stays one."""
    return np.asarray(value_at(value, (wy, wx)), dtype=np.float64)[()]


def slope_level(grp, used, coef, slope, weight):
    """Level (ADU) of the ``c * |grad profile|`` term over each group's fit pixels.

    ``|grad profile|`` is positive even on flat sky (noise), so its term carries
    a level the constant ``b`` could equally fit: a level is no flux change.
    """
    ngroups = coef.shape[0] - 1
    w = np.bincount(grp[used], weights=weight[used], minlength=ngroups + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(grp[used], weights=(weight * slope)[used], minlength=ngroups + 1) / w
    return (coef[:, 1] * np.nan_to_num(mean))[grp]
