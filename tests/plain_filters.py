"""Plain whole-image forms of the detectors' filters, the references of the exactness tests."""

from __future__ import annotations

import numpy as np


def laplace_plus(image: np.ndarray) -> np.ndarray:
    """Rebinned clipped Laplacian of the 2x sub-sampled image, on the whole mirrored image.

    The construction before the row blocks: mirror pad, the four clipped terms
    ``2 * image - a - b`` summed from 0, times 1/4.
    """
    padded = np.pad(image, 1, mode="reflect")
    left, right = padded[1:-1, :-2], padded[1:-1, 2:]
    up, down = padded[:-2, 1:-1], padded[2:, 1:-1]
    twice = 2.0 * image
    out = np.zeros_like(image)
    for a, b in ((left, up), (right, up), (left, down), (right, down)):
        term = twice - a
        term -= b
        np.maximum(term, 0.0, out=term)
        out += term
    out *= 0.25
    return out
