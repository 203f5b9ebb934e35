"""Cosmic-ray rate modes of the synthetic MEGARA-like frames.

``make_megara_like_frames(..., rate="high")`` imitates a long exposure at a
high cosmic-ray rate on a faint target: about 1,500 random events per Mpix
per exposure (the ``normal`` rate has about 370), and a sky continuum half as
bright, so that most of the image between the fibres sits below 20 e-, and
faint designed double hits whose weaker hit is 2-16 sigma instead of 2-5.
This is where recall near the detection limit is decided: faint double hits
on low signal, and enough chance coincidences to exercise the boundary.

Units: rates in events per 10^6 pixels per exposure; fluxes in electrons.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

__all__ = [
    "HIGH_RATE_EVENTS_PER_MPIX",
    "RATES",
    "adapt_scene",
    "faint_sigma",
    "resolve_cr_fraction",
]

#: Accepted values of the ``rate`` argument of ``make_megara_like_frames``.
RATES = ("normal", "high")
#: Random cosmic-ray fraction of the ``normal`` rate (0.2 % of the pixels per frame).
NORMAL_CR_FRACTION = 0.002
#: Random events per 10^6 pixels per exposure of the ``high`` rate.
HIGH_RATE_EVENTS_PER_MPIX = 1500.0
#: Mean number of pixels of one random event, measured on 3 x 4112 x 4096 frames
#: (single pixels, blobs, tracks and worms in the generator's proportions).
MEAN_EVENT_PIXELS = 6.1
#: Weaker-hit range (single-frame sigma) of the faint designed double hits, per mode:
#: ``high`` reaches from below the 5 sigma limit to well above it.
FAINT_SIGMA = {"normal": (2.0, 5.0), "high": (2.0, 16.0)}
#: Factor applied to the sky continuum and the diffuse light of the ``high`` scene.
HIGH_RATE_SKY_SCALE = 0.5


def resolve_cr_fraction(rate: Any, cr_fraction: Any) -> tuple[str, Any]:
    """Check ``rate`` and return it with the random cosmic-ray fraction to use.

    Parameters
    ----------
    rate : {'normal', 'high'}
        Rate mode.
    cr_fraction : float or None
        Explicit fraction of pixels hit per frame; ``None`` takes the mode's
        default (0.002 for ``normal``; 1,500 events per Mpix for ``high``).

    Returns
    -------
    tuple of (str, float)
        The mode and the fraction (still to be range-checked by the caller).

    Raises
    ------
    ValueError
        If ``rate`` is not one of :data:`RATES`.
    """
    if rate not in RATES:
        raise ValueError(f"rate must be one of {', '.join(map(repr, RATES))}, got {rate!r}")
    if cr_fraction is not None:
        return rate, cr_fraction
    if rate == "high":
        return rate, HIGH_RATE_EVENTS_PER_MPIX * MEAN_EVENT_PIXELS / 1e6
    return rate, NORMAL_CR_FRACTION


def faint_sigma(rate: str) -> tuple[float, float]:
    """Range (single-frame sigma) of the weaker hit of faint designed double hits."""
    return FAINT_SIGMA[rate]


def adapt_scene(scene, rate: str):
    """Return the scene for the rate mode (``high``: sky and diffuse light halved).

    The scene is drawn first with the same random stream in every mode, then
    rescaled here, so a ``high`` set has the same fibres, lines and object as
    the ``normal`` set of the same seed.

    Parameters
    ----------
    scene : megara_crplugin.synthetic.MegaraScene
        Drawn scene (electrons).
    rate : {'normal', 'high'}
        Rate mode (checked by :func:`resolve_cr_fraction`).

    Returns
    -------
    megara_crplugin.synthetic.MegaraScene
        The same object for ``normal``; a rescaled copy for ``high``.
    """
    if rate != "high":
        return scene
    return replace(
        scene,
        sky_level=scene.sky_level * HIGH_RATE_SKY_SCALE,
        background=scene.background * HIGH_RATE_SKY_SCALE,
    )
