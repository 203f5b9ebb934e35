"""Aux.Cosmic on the median, the mean and every exposure (the pipeline's detector phase).

The N + 2 calls are independent.  With a fork-safe detector they run in
forked worker processes (the images shared copy-on-write, only the changed
pixels sent back); the cores are split between workers and the threads
of each (OpenMP, the L.A.Cosmic strips), in rounds
(:func:`~megara_crplugin._threads.call_rounds`): when fewer calls than workers
are left, each remaining call gets more threads instead of leaving cores idle
(not when this process has run OpenMP code already: GNU libgomp's thread pool
does not survive a fork, and a worker with more than one thread would hang).
The results do not depend on the split.  Mask polarity: True = cosmic ray.
"""

from __future__ import annotations

from ._auxtransfer import pack_detection, unpack_detection
from ._forkmap import fork_context, fork_imap
from ._threads import call_rounds, limit_openmp, openmp_loaded
from .result import StackStatistics

__all__ = ["aux_pass"]


#: Detectors whose calls may run in forked worker processes (pure numpy/C, no
#: framework threads that a fork could leave in a bad state).
_FORK_SAFE_DETECTORS = ("lacosmic", "pycosmic")


def aux_pass(ctx, stats: StackStatistics):
    """Aux.Cosmic on median2d, mean2d and every exposure.

    Parameters
    ----------
    ctx : pipeline context
        ``ctx.detect(image)`` -> (mask, cleaned), ``ctx.detector``, ``ctx.cfg.jobs``
        and ``ctx.phase``.
    stats : StackStatistics
        The stack and its statistics (ADU).

    Returns
    -------
    aux_med, auxclean, aux_mean, aux_frames, cleaned_frames
        The detections on the median (and its cleaned image), on the mean, on
        each exposure, and the exposures cleaned by the detector (the
        exposure itself where the detector does not clean).
    """
    n = stats.n_frames
    images = [stats.median2d, stats.mean2d, *stats.stack]
    forked = ctx.detector is not None and getattr(ctx.detector, "name", "") in _FORK_SAFE_DETECTORS
    with ctx.phase("detector: median, mean and exposures", n + 2) as advance:
        if forked and fork_context() is not None:
            out = _forked_calls(ctx, images, advance)
        else:
            out = []
            for i, img in enumerate(images):
                mask, cleaned = ctx.detect(img)
                out.append((mask, cleaned if i != 1 else None))  # the mean's is not used
                del cleaned
                advance(1)
    (aux_med, auxclean), (aux_mean, _) = out[0], out[1]
    aux_frames = [m for m, _ in out[2:]]
    cleaned_frames = [c if c is not None else stats.stack[i] for i, (_, c) in enumerate(out[2:])]
    return aux_med, auxclean, aux_mean, aux_frames, cleaned_frames


def _forked_calls(ctx, images, advance) -> list:
    """The detector on every image in forked workers, round by round; (mask, cleaned) each."""
    # the median's call last: the shortest (few cosmic rays), it ends a round best
    order = [*range(1, len(images)), 0]
    packed = {}
    single = openmp_loaded()  # the parent's OpenMP pool does not survive a fork
    for calls, workers, threads in call_rounds(ctx.cfg.jobs, len(images)):
        items = [order[c] for c in calls]
        threads = 1 if single else threads

        def call(k, items=items, threads=threads):  # in a worker: its share of the cores
            limit_openmp(threads)
            i = items[k]
            mask, cleaned = ctx.detect(images[i])
            # only the changed pixels travel; the mean's cleaned image is not used
            return pack_detection(images[i], mask, cleaned, keep_cleaned=i != 1)

        for i, res in zip(items, fork_imap(call, len(items), workers), strict=True):
            packed[i] = res
            advance(1)
    # the workers have exited: only now the full-frame cleaned images are rebuilt
    return [unpack_detection(img, packed.pop(i)) for i, img in enumerate(images)]
