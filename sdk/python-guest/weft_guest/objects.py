"""The object store: immutable byte objects shared between tasks."""

from __future__ import annotations

from typing import Any

from ._common import binding, call



def put(data: bytes) -> Any:
    """Stores ``data``; returns its ref."""
    return call(binding("objects").put, bytes(data))


def get(ref: Any) -> bytes:
    """An object's bytes (waiting for a task's result)."""
    return call(binding("objects").get, ref)


def get_range(ref: Any, offset: int, length: int) -> bytes:
    """``length`` bytes of an object from ``offset`` (fewer at its end)."""
    return call(binding("objects").get_range, ref, offset, length)


def size(ref: Any) -> int:
    """An object's size in bytes."""
    return call(binding("objects").size, ref)
