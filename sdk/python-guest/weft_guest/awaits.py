"""Awaits for concurrent actors: in a method that is an ``async func``
export (``async def``), awaiting these lets the instance's other calls run
meanwhile. The world imports ``weft:runtime/awaits@0.2.0``.

    async def fetch(self, component: str, ms: int) -> int:
        ref = tasks.submit(component, "drip", 1, ms)
        return await awaits.get(ref)
"""

from __future__ import annotations

from typing import Any, List, Optional

from ._common import binding, call_async, millis
from .values import decode


async def get(ref: Any, timeout: Optional[float] = None) -> Any:
    """A task's (or object's, or actor call's) result as a Python value,
    awaited; ``None`` for a function that returns nothing."""
    encoded = await call_async(binding("awaits").get, ref, millis(timeout))
    return None if encoded is None else decode(encoded)


async def wait(refs: List[Any], num_ready: int = 1, timeout: Optional[float] = None) -> List[Any]:
    """Awaits until ``num_ready`` of ``refs`` are done (or the timeout);
    the refs that are."""
    return await call_async(binding("awaits").wait, list(refs), num_ready, millis(timeout))


async def sleep(seconds: float) -> None:
    """Returns after ``seconds``, letting other calls run."""
    await binding("awaits").sleep(max(0, int(seconds * 1000)))
