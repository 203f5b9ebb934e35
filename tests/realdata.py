"""Loaders of the real evaluation frames in ``../shared/data`` (read-only).

One place that knows how each real set is prepared, so every test and script
measures the same arrays with the same noise model:

* LT/SPRAT LHS 6328, 5 x 120 s (``v_e_20180810_12_{1..5}_0_0.fits.gz``): raw
  1024 x 254 frames, no overscan; bias 917 ADU, gain 2.45 e-/ADU, read noise
  2.10 ADU (from frame differences).
* WHT/ISIS red G93-48, 3 x 100 s (``r2701253/55/57.fit.gz``): each frame's
  scalar overscan level (median of BIASSEC [1:966,4110:4190]) is subtracted and
  the frame trimmed to TRIMSEC [1:966,1:4096]; bias 0, gain 0.98 e-/ADU, read
  noise 4.19 ADU (measured on the bias frames).  Its first columns stay strongly
  negative (a detector defect, about -260 ADU).

Functions return a :class:`RealSet`; they raise ``FileNotFoundError`` naming
the missing file (tests turn that into a skip through ``shared_data_dir``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = [
    "DATA_DIR",
    "ISIS_G93_FRAMES",
    "RealSet",
    "isis_frame",
    "isis_g93",
    "realset_params",
    "sprat",
]

#: Real evaluation data (read-only), beside the repository.
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"

SPRAT_DIR = "aspired_sprat_LHS6328"
ISIS_DIR = "aspired_wht_isis_red"
#: The three 100 s exposures of G93-48.
ISIS_G93_FRAMES = ("r2701253", "r2701255", "r2701257")
#: ISIS BIASSEC [1:966,4110:4190] and TRIMSEC [1:966,1:4096] as numpy row slices.
ISIS_BIAS_ROWS = slice(4109, 4190)
ISIS_TRIM_ROWS = slice(0, 4096)


@dataclass(frozen=True)
class RealSet:
    """Frames of one real set and its noise model.

    Attributes
    ----------
    name : str
        Short name of the set.
    frames : list of ndarray (ny, nx), float32
        The exposures in ADU.
    gain : float
        e-/ADU.
    rnoise : float
        Read noise, ADU.
    bias : float
        Bias level still included in ``frames``, ADU.
    """

    name: str
    frames: list
    gain: float
    rnoise: float
    bias: float


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"real frame {path} is absent (../shared/data beside the repo)")
    return path


def sprat(indices=(1, 2, 3, 4, 5), data_dir: Path = DATA_DIR) -> RealSet:
    """LT/SPRAT LHS 6328 exposures (1-based ``indices`` among the five 120 s frames)."""
    frames = []
    for i in indices:
        path = _require(Path(data_dir) / SPRAT_DIR / f"v_e_20180810_12_{i}_0_0.fits.gz")
        frames.append(fits.getdata(path).astype(np.float32))
    name = "sprat" + "".join(str(i) for i in indices)
    return RealSet(name, frames, gain=2.45, rnoise=2.10, bias=917.0)


def isis_frame(stem: str, data_dir: Path = DATA_DIR) -> np.ndarray:
    """One ISIS red frame: overscan level subtracted, trimmed (ADU, float32)."""
    path = _require(Path(data_dir) / ISIS_DIR / f"{stem}.fit.gz")
    raw = fits.getdata(path, ext=1).astype(np.float32)
    level = np.median(raw[ISIS_BIAS_ROWS])
    return raw[ISIS_TRIM_ROWS] - np.float32(level)


def isis_g93(data_dir: Path = DATA_DIR) -> RealSet:
    """The WHT/ISIS G93-48 triplet (3 x 100 s), overscan-subtracted and trimmed."""
    frames = [isis_frame(s, data_dir) for s in ISIS_G93_FRAMES]
    return RealSet("isis_g93", frames, gain=0.98, rnoise=4.19, bias=0.0)


def realset_params(rs: RealSet, **extra) -> dict:
    """The new user's YAML: only gain, rnoise, bias and ``interactive: false`` (+ extra)."""
    params = {"gain": rs.gain, "rnoise": rs.rnoise, "bias": rs.bias, "interactive": False}
    params.update(extra)
    return params
