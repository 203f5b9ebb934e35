"""Hand the C heap's free memory back to the system between the pipeline's phases.

numpy allocates the row-block temporaries of the detection stages (a few MB
each) from the C heap once glibc's adaptive threshold has grown past their
size; after a phase they are free but the pages stay mapped to the process,
so the resident size (and the peak of the next phase) carries them.
``malloc_trim(0)`` (glibc) returns those pages.  No effect, and no error,
where glibc is absent (macOS, musl).  Nothing computed depends on it.

:func:`share_one_arena` makes every thread allocate from glibc's main arena:
by default each thread that allocates gets an arena of its own, which keeps
the pages of its freed temporaries for itself, so two threads working on two
exposures held about 0.4 GB more at full MEGARA size than the arrays they
needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

__all__ = ["release_free_memory", "share_one_arena"]

#: ``mallopt`` parameter number of the arena limit (glibc ``M_ARENA_MAX``).
_M_ARENA_MAX = -8


@functools.cache
def _libc_function(name: str):
    """The C library's function ``name`` (ctypes), or None where there is none."""
    lib = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(lib), name) if lib else None
    except (OSError, AttributeError):
        return None


def _trim():
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
    return trim


@functools.lru_cache(maxsize=1)
def share_one_arena() -> bool:
    """Let every thread of this process allocate from one arena (glibc); True if set.

    A process-wide setting, made once: threads started afterwards share the
    main arena, so a temporary freed by one thread is reused by the next
    allocation of any (the run's threads allocate large arrays only, so they
    hardly contend for the arena's lock).  No effect, and no error, without
    glibc.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_ARENA_MAX, 1))


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
