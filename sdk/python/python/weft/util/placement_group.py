"""Placement groups: bundles of resources reserved as a gang, all or none,
with Ray's strategies (PACK, SPREAD, STRICT_PACK, STRICT_SPREAD) and names.

A group that cannot be placed yet stays pending, and ``pending_reason``
(also in ``placement_group_table``) says which bundle fits no host and what
it lacks. Removing a group kills the actors in it and stops its tasks.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._api import _session
from .._errors import GetTimeoutError


class PlacementGroupReady:
    """What ``PlacementGroup.ready()`` returns: ``weft.get`` of it waits
    until every bundle is reserved and gives back the group."""

    def __init__(self, group: "PlacementGroup") -> None:
        self.group = group

    def _get(self, timeout: Optional[float]) -> "PlacementGroup":
        if not self.group.wait(timeout_seconds=timeout):
            raise GetTimeoutError(
                f"placement group {self.group.id} is not created after {timeout} s: "
                f"{self.group.pending_reason}"
            )
        return self.group

    def __repr__(self) -> str:
        return f"PlacementGroupReady({self.group.id})"


class PlacementGroup:
    """A handle on a placement group (its ``id``); pass it to a task's or
    actor's ``scheduling_strategy`` (``PlacementGroupSchedulingStrategy``)
    or ``placement_group=`` option."""

    def __init__(self, id: str, bundle_specs: Optional[List[Dict[str, float]]] = None) -> None:
        self.id = id
        self._bundles = bundle_specs
        self.pending_reason = ""

    @property
    def bundle_specs(self) -> List[Dict[str, float]]:
        """Each bundle's resources, in order."""
        if self._bundles is None:
            record = self._record(0.0)
            self._bundles = [dict(b) for _, b in sorted(record["bundles"].items())]
        return self._bundles

    @property
    def bundle_count(self) -> int:
        return len(self.bundle_specs)

    def _record(self, wait: float) -> Dict[str, Any]:
        record = _session().placement_group(self.id, "", "", wait)
        self.pending_reason = record["pending_reason"]
        return record

    def ready(self) -> PlacementGroupReady:
        """``weft.get(pg.ready(), timeout=...)`` waits until the group is
        created, as ``ray.get(pg.ready())`` does."""
        return PlacementGroupReady(self)

    def wait(self, timeout_seconds: Optional[float] = 30) -> bool:
        """Whether the group is created within ``timeout_seconds`` (None:
        as long as it takes)."""
        wait = 10 * 365 * 86400.0 if timeout_seconds is None else float(timeout_seconds)
        while True:
            step = min(wait, 600.0)
            record = self._record(step)
            if record["state"] in ("CREATED", "REMOVED") or wait <= step:
                return bool(record["state"] == "CREATED")
            wait -= step

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> Any:
        return (PlacementGroup, (self.id,))

    def __repr__(self) -> str:
        return f"PlacementGroup({self.id})"


def placement_group(
    bundles: List[Dict[str, float]],
    strategy: str = "PACK",
    name: str = "",
    lifetime: Optional[str] = None,
    namespace: Optional[str] = None,
) -> PlacementGroup:
    """Asks for a group of ``bundles`` (dicts of ``CPU``, ``GPU``,
    ``memory`` in bytes, and custom resources); returns at once. A group
    that is not ``lifetime="detached"`` is removed when this client goes."""
    if not bundles:
        raise ValueError("a placement group needs at least one bundle")
    if lifetime not in (None, "detached", "non_detached"):
        raise ValueError(f"lifetime must be 'detached' or 'non_detached', not {lifetime!r}")
    specs = [{str(k): float(v) for k, v in b.items()} for b in bundles]
    record = _session().create_placement_group(
        specs, strategy, name, namespace or "", lifetime == "detached"
    )
    return PlacementGroup(record["placement_group_id"], specs)


def get_placement_group(name: str, namespace: Optional[str] = None) -> PlacementGroup:
    """The group named ``name``."""
    record = _session().placement_group("", name, namespace or "", 0.0)
    return PlacementGroup(record["placement_group_id"])


def remove_placement_group(group: PlacementGroup) -> bool:
    """Removes a group: its actors are killed, its tasks stopped, its
    bundles freed. False when it was removed already."""
    return _session().remove_placement_group(group.id)


def placement_group_table(group: Optional[PlacementGroup] = None) -> Dict[str, Any]:
    """Every group's record by id (or one group's record): state,
    strategy, bundles, ``bundles_to_node_id`` and ``pending_reason``."""
    if group is not None:
        return _session().placement_group(group.id, "", "", 0.0)
    return {r["placement_group_id"]: r for r in _session().placement_groups()}


def get_current_placement_group() -> Optional[PlacementGroup]:
    """Always None in a driver: Python code here runs outside the cluster's
    tasks (guests see their group through their own options)."""
    return None
