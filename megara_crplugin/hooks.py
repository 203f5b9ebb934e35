"""Hooks through which the core reports progress and asks for decisions.

The core (:mod:`megara_crplugin.pipeline`) never prints, plots or prompts.  It
calls a *progress* object and, in interactive mode, a *reviewer*.  The defaults
here do nothing, so the core runs unattended; :mod:`megara_crplugin.reports`
provides a rich progress display and :mod:`megara_crplugin.interactive` the
matplotlib/terminal reviewer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .boundary import Boundary
    from .result import CRMaskResult, Feature, SimulatedHistogram, StackStatistics

__all__ = [
    "BoundaryDecision",
    "NullProgress",
    "NullReviewer",
    "Progress",
    "Reviewer",
]


class Progress(Protocol):
    """Receives phase notifications from the core."""

    def phase(self, name: str, total: int | None = None) -> Any:
        """Context manager for one phase; yields ``advance(n=1)``."""
        ...


class NullProgress:
    """Progress sink that records nothing (default)."""

    @contextmanager
    def phase(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Run one phase silently; yields a no-op ``advance`` callback."""
        yield lambda n=1: None


@dataclass
class BoundaryDecision:
    """What to do after the operator looked at the MM diagram.

    Attributes
    ----------
    action : {'continue', 'refit', 'resimulate'}
        ``refit`` refits the boundary with ``changes`` applied (keys such as
        ``mm_hist2d_min_neighbors``, ``mm_boundary_fit``, ``mm_knots_splfit``,
        ``mm_niter_boundary_extension``, ``mm_weight_boundary_extension``,
        ``mm_fixed_points_in_boundary``); ``resimulate`` reruns the simulations
        with ``changes`` (``mm_photon_distribution``, ``mm_nbinom_shape``,
        ``mm_nsimulations``, and the diagram limits ``xdiag_min``,
        ``xdiag_max``, ``ydiag_max``).  Stopping is signalled by raising
        :class:`megara_crplugin.exceptions.UserStop`.
    changes : dict
        Parameter overrides (validated again by the core).
    """

    action: Literal["continue", "refit", "resimulate"] = "continue"
    changes: dict[str, Any] = field(default_factory=dict)


class Reviewer(Protocol):
    """Interactive decisions requested by the core (only when ``interactive``)."""

    def review_boundary(
        self,
        histogram: SimulatedHistogram,
        boundary: Boundary,
        stats: StackStatistics,
        config: Any,
    ) -> BoundaryDecision:
        """Show the MM diagram and return the operator's decision."""
        ...

    def review_mediancr(self, result: CRMaskResult) -> None:
        """Show the MEDIANCR diagnostic; may raise ``UserStop``."""
        ...

    def verify_features(self, result: CRMaskResult, features: list[Feature]) -> set[int]:
        """Ask accept/reject per feature; return the rejected feature numbers."""
        ...


class NullReviewer:
    """Reviewer that accepts everything (non-interactive runs)."""

    def review_boundary(self, histogram, boundary, stats, config) -> BoundaryDecision:
        """Continue without changes."""
        return BoundaryDecision()

    def review_mediancr(self, result) -> None:
        """Do nothing."""

    def verify_features(self, result, features) -> set[int]:
        """Reject nothing."""
        return set()
