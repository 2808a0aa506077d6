"""Waiting on facts: the tests' one way to wait for something that happens
elsewhere (a host registering, a task starting, counters arriving with a
heartbeat), instead of a fixed sleep that is too short under load and too
long otherwise."""

from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], Optional[T]], timeout: float = 30, what: str = "the condition") -> T:
    """Calls ``check`` until it returns something truthy and returns that
    (``None``, ``False``, ``""`` and empty collections mean "not yet");
    raises ``TimeoutError`` naming ``what`` and the last answer after
    ``timeout`` seconds. Pauses double from 10 ms to 200 ms, so a fact that
    holds soon is seen soon."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not hold within {timeout} s (last: {last!r})")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.2)
