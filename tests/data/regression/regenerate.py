"""Compute (and, with ``--write``, store) the regression reference outputs.

The reference files ``tests/data/regression/<case>.npz`` hold, for each case of
:data:`CASES` (small synthetic triplets with fixed seeds, default parameters
except the listed ones):

* every mask extension of ``crmasks.fits`` (``MEDIANCR``, ``MEANCRT``,
  ``CRMASK1..N``, ``MEANCR``; True = cosmic ray), bit-packed;
* the seven combined images (``mean`` ... ``meancr2``): the SHA-256 digest of
  the float32 DATA / VARIANCE and int16 MAP bytes, plus their float64 sums
  (ADU, ADU^2, count) so that a failure says how far the output moved.

``tests/test_regression.py`` asserts bit-identical output.  When a change is
*meant* to alter the masks or the combined images, regenerate on purpose::

    PYTHONPATH=$PWD python tests/data/regression/regenerate.py --write

and commit the new ``.npz`` files together with the change that explains them
(see ``docs/architecture.md``).  Without ``--write`` the script only prints
which cases differ from the stored files.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from megara_crplugin.combination import METHODS, combine_all
from megara_crplugin.crmasks_file import crmasks_hdulist, read_crmasks
from megara_crplugin.pipeline import compute_crmasks
from megara_crplugin.synthetic import make_megara_like_frames

HERE = Path(__file__).resolve().parent

#: Shape (ny, nx) of the synthetic triplets.
SHAPE = (128, 256)
#: Synthetic seeds x detection methods; everything else at its default.
CASES = {
    f"{method}_seed{seed}": {"seed": seed, "crmethod": method}
    for seed in (11, 29)
    for method in ("mmcosmic", "mm_pycosmic", "mm_lacosmic")
}


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def compute_case(name: str) -> dict[str, np.ndarray]:
    """The reference arrays of one case (what is stored in ``<name>.npz``)."""
    case = CASES[name]
    sset = make_megara_like_frames(SHAPE, seed=case["seed"], n_double_hits=10, bias=100.0)
    params = {
        "crmethod": case["crmethod"],
        "interactive": False,
        "gain": float(sset.gain),
        "rnoise": float(sset.rnoise),
        "bias": float(sset.bias),
        "maxplots": 0,
    }
    result = compute_crmasks(list(sset.frames), params)
    # The combinations read the masks back exactly as the recipes do.
    masks = read_crmasks(crmasks_hdulist(result))
    out: dict[str, np.ndarray] = {"shape": np.asarray(SHAPE)}
    for ext, mask in result.masks.items():
        out[f"mask_{ext}"] = np.packbits(np.asarray(mask, dtype=bool))
    combos = combine_all(list(sset.frames), METHODS, masks=masks, bias=float(sset.bias))
    for method, comb in combos.items():
        parts = {
            "data": np.asarray(comb.data, dtype=np.float32),
            "variance": np.asarray(comb.variance, dtype=np.float32),
            "map": np.asarray(comb.map, dtype=np.int16),
        }
        for part, array in parts.items():
            out[f"comb_{method}_{part}_sha256"] = np.asarray(_digest(array))
            out[f"comb_{method}_{part}_sum"] = np.asarray(array.sum(dtype=np.float64))
    return out


def differences(name: str, stored: dict, current: dict) -> list[str]:
    """One line per array of ``current`` that differs from ``stored``."""
    lines = []
    for key in sorted(set(stored) | set(current)):
        if key not in stored or key not in current:
            lines.append(f"{name}: {key} only in {'stored' if key in stored else 'current'}")
            continue
        old, new = np.asarray(stored[key]), np.asarray(current[key])
        if old.shape != new.shape or not np.array_equal(old, new):
            if key.startswith("mask_"):
                nbits = int(np.unpackbits(old ^ new).sum()) if old.shape == new.shape else -1
                lines.append(f"{name}: {key} differs in {nbits} pixels")
            else:
                lines.append(f"{name}: {key} stored {old!s} now {new!s}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="overwrite the stored references")
    args = parser.parse_args(argv)
    status = 0
    for name in CASES:
        current = compute_case(name)
        path = HERE / f"{name}.npz"
        if args.write:
            np.savez_compressed(path, **current)
            print(f"wrote {path}")
            continue
        with np.load(path) as stored:
            lines = differences(name, dict(stored), current)
        print("\n".join(lines) if lines else f"{name}: identical")
        status |= bool(lines)
    return status


if __name__ == "__main__":
    sys.exit(main())
