"""Loaders of the real WHT/ISIS and LT/SPRAT frames in ``../shared/data`` (see its README).

Used by the flux-change and noise-check tests (issue 9c).  The ISIS frames are
overscan-subtracted (scalar median of BIASSEC ``[1:966,4110:4190]``) and trimmed
to TRIMSEC ``[1:966,1:4096]``; gain 0.98 e-/ADU, read noise 4.19 ADU (measured
on the biases).  SPRAT frames have no overscan: bias 917 ADU, gain 2.45 e-/ADU,
read noise 2.10 ADU (from frame differences).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

#: Real evaluation data (read-only), beside the repository.
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"

ISIS_DIR = "aspired_wht_isis_red"
SPRAT_DIR = "aspired_sprat_LHS6328"

#: The two ISIS arc triplets (lamp flux drifts between frames) and the G93-48 triplet.
ISIS_ARCS_A = ("r2701247", "r2701248", "r2701249")
ISIS_ARCS_B = ("r2701259", "r2701261", "r2701262")
ISIS_G93 = ("r2701253", "r2701255", "r2701257")
ISIS_GAIN = 0.98
ISIS_RNOISE = 4.19

SPRAT_FRAMES = tuple(f"v_e_20180810_12_{i}_0_0" for i in range(1, 6))
SPRAT_GAIN = 2.45
SPRAT_RNOISE = 2.10
SPRAT_BIAS = 917.0


def isis_frame(name: str, data_dir: Path = DATA_DIR) -> np.ndarray:
    """One ISIS exposure: overscan-subtracted and trimmed, float32 ADU, shape (4096, 966)."""
    with fits.open(data_dir / ISIS_DIR / f"{name}.fit.gz") as hdul:
        raw = np.asarray(hdul[1].data, dtype=np.float32)
    overscan = float(np.median(raw[4109:4190, 0:966]))
    return raw[0:4096, 0:966] - overscan


def isis_frames(names, data_dir: Path = DATA_DIR) -> list[np.ndarray]:
    """Several ISIS exposures (see :func:`isis_frame`)."""
    return [isis_frame(n, data_dir) for n in names]


def sprat_frames(indices=(1, 2, 3, 4, 5), data_dir: Path = DATA_DIR) -> list[np.ndarray]:
    """SPRAT LHS 6328 exposures (1-based indices), raw float32 ADU (bias 917 ADU included)."""
    out = []
    for i in indices:
        with fits.open(data_dir / SPRAT_DIR / f"{SPRAT_FRAMES[i - 1]}.fits.gz") as hdul:
            out.append(np.asarray(hdul[0].data, dtype=np.float32))
    return out


def isis_params(**extra) -> dict:
    """A new user's parameters for the ISIS frames (defaults otherwise)."""
    return {"gain": ISIS_GAIN, "rnoise": ISIS_RNOISE, "bias": 0.0, "interactive": False, **extra}


def sprat_params(**extra) -> dict:
    """A new user's parameters for the SPRAT frames (defaults otherwise)."""
    params = {"gain": SPRAT_GAIN, "rnoise": SPRAT_RNOISE, "bias": SPRAT_BIAS}
    return {**params, "interactive": False, **extra}
