"""Hand the C heap's free memory back to the system between the pipeline's phases.

numpy allocates the row-block temporaries of the detection stages (a few MB
each) from the C heap once glibc's adaptive threshold has grown past their
size; after a phase they are free but the pages stay mapped to the process,
so the resident size (and the peak of the next phase) carries them.
``malloc_trim(0)`` (glibc) returns those pages.  No effect, and no error,
where glibc is absent (macOS, musl).  Nothing computed depends on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

__all__ = ["release_free_memory"]


@functools.lru_cache(maxsize=1)
def _trim():
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
    return trim


def release_free_memory(*, collect: bool = False) -> bool:
    """Return the C heap's free pages to the system; True if glibc did it.

    ``collect``: first free the unreachable reference cycles (a full
    ``gc.collect()``, some tens of ms): objects frozen around the forks of
    the workers (:mod:`._forkmap`) age into the oldest generation, which the
    collector visits rarely, and arrays held only by such cycles would stay
    allocated into the next phase.
    """
    if collect:
        gc.collect()
    trim = _trim()
    return False if trim is None else bool(trim(0))
