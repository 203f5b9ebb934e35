"""Real frames of ``../shared/data`` for ``validate_real.py``, and real cosmic-ray footprints.

Preparation (the same conventions as ``tests/realdata.py``):

* LT/SPRAT LHS 6328, 5 x 120 s: raw 1024 x 254 frames, no overscan; bias 917 ADU,
  gain 2.45 e-/ADU, read noise 2.10 ADU.
* WHT/ISIS red (G93-48 triplet, the two arc triplets, the two 1800 s frames): the
  median of BIASSEC [1:966,4110:4190] is subtracted and the frame trimmed to
  TRIMSEC [1:966,1:4096]; bias 0, gain 0.98 e-/ADU, read noise 4.19 ADU.

Real footprints: in each 1800 s frame (r2701242, r2701244) a cosmic ray is a
sharp excess over the other frame.  The difference of the two frames is
high-pass filtered along x (a running median over 15 columns removes the sky
lines, which change between the frames and span the slit), groups of pixels
above 3 sigma that hold a pixel above 10 sigma are kept when they have 1-150
pixels and do not touch the border or the defective first columns; each
group's flux (the filtered difference, >= 0) is the footprint, in electrons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import ndimage

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SPRAT_DIR = "aspired_sprat_LHS6328"
ISIS_DIR = "aspired_wht_isis_red"
ISIS_BIAS_ROWS = slice(4109, 4190)
ISIS_TRIM_ROWS = slice(0, 4096)
ISIS_GAIN, ISIS_RNOISE = 0.98, 4.19
#: The two 1800 s ISIS frames, donors of real footprints.
DONORS = ("r2701242", "r2701244")
#: Columns of the ISIS frames left out of the footprint search (defect).
DEFECT_COLUMNS = 5


@dataclass(frozen=True)
class RealSet:
    """Frames of one real set (ADU, bias included) and their noise model."""

    key: str
    title: str
    frames: list
    gain: float
    rnoise: float
    bias: float


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"real frame {path} is absent (../shared/data beside the repo)")
    return path


def sprat(indices, data_dir: Path = DATA_DIR) -> list[np.ndarray]:
    """SPRAT LHS 6328 exposures (1-based indices), ADU float32."""
    return [
        fits.getdata(_require(data_dir / SPRAT_DIR / f"v_e_20180810_12_{i}_0_0.fits.gz")).astype(
            np.float32
        )
        for i in indices
    ]


def isis_frame(stem: str, data_dir: Path = DATA_DIR) -> np.ndarray:
    """One ISIS red frame: overscan level subtracted, trimmed (ADU, float32)."""
    raw = fits.getdata(_require(data_dir / ISIS_DIR / f"{stem}.fit.gz"), ext=1)
    raw = raw.astype(np.float32)
    return raw[ISIS_TRIM_ROWS] - np.float32(np.median(raw[ISIS_BIAS_ROWS]))


#: key -> (title, loader, gain, rnoise, bias); extend here.
SETS = {
    "sprat5": ("SPRAT LHS 6328, 5 x 120 s", lambda d: sprat((1, 2, 3, 4, 5), d), 2.45, 2.10, 917),
    "sprat123": ("SPRAT LHS 6328, frames 1-3", lambda d: sprat((1, 2, 3), d), 2.45, 2.10, 917),
    "isis_g93": (
        "ISIS G93-48 triplet (r2701253/55/57)",
        lambda d: [isis_frame(s, d) for s in ("r2701253", "r2701255", "r2701257")],
        ISIS_GAIN,
        ISIS_RNOISE,
        0.0,
    ),
    "isis_arc1": (
        "ISIS arc triplet r2701247-49",
        lambda d: [isis_frame(s, d) for s in ("r2701247", "r2701248", "r2701249")],
        ISIS_GAIN,
        ISIS_RNOISE,
        0.0,
    ),
    "isis_arc2": (
        "ISIS arc triplet r2701259/61/62",
        lambda d: [isis_frame(s, d) for s in ("r2701259", "r2701261", "r2701262")],
        ISIS_GAIN,
        ISIS_RNOISE,
        0.0,
    ),
}


def load_set(key: str, data_dir: Path = DATA_DIR) -> RealSet:
    """The real set ``key`` of :data:`SETS`."""
    title, loader, gain, rnoise, bias = SETS[key]
    return RealSet(key, title, loader(Path(data_dir)), gain, rnoise, float(bias))


def real_footprints(data_dir: Path = DATA_DIR) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Cosmic-ray footprints of the two 1800 s frames: ``(dy, dx, flux_e)`` each."""
    a, b = (isis_frame(s, Path(data_dir)) for s in DONORS)
    out = []
    for hit, other in ((a, b), (b, a)):
        base = np.minimum(hit, other)
        sigma = np.sqrt(2.0 * (np.maximum(base, 0) / ISIS_GAIN + ISIS_RNOISE**2))
        diff = hit - other
        diff = diff - ndimage.median_filter(diff, size=(1, 15), mode="nearest")
        z = diff / sigma
        z[:, :DEFECT_COLUMNS] = 0.0
        labels, n = ndimage.label(z > 3.0, structure=np.ones((3, 3)))
        peaks = ndimage.maximum(z, labels, np.arange(1, n + 1))
        for k, sl in enumerate(ndimage.find_objects(labels)):
            if peaks[k] < 10.0:
                continue
            ys, xs = np.nonzero(labels[sl] == k + 1)
            ys, xs = ys + sl[0].start, xs + sl[1].start
            if not 1 <= ys.size <= 150:
                continue
            if ys.min() == 0 or xs.min() <= DEFECT_COLUMNS or ys.max() == a.shape[0] - 1:
                continue
            if xs.max() == a.shape[1] - 1:
                continue
            flux = np.maximum(diff[ys, xs], 0.0) * ISIS_GAIN
            cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
            out.append((ys - cy, xs - cx, flux))
    return out
