"""Where work runs, by Ray's names (``ray.util.scheduling_strategies``)."""

from __future__ import annotations

from .._api import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

__all__ = ["NodeAffinitySchedulingStrategy", "PlacementGroupSchedulingStrategy"]
