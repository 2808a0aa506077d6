"""weft's exceptions. The native client raises these by name."""

from __future__ import annotations

from typing import Any


class WeftError(Exception):
    """Base of every error weft raises (besides TypeError for bad values)."""


class TaskError(WeftError):
    """A task, call or actor call failed.

    ``kind`` says how: ``trap`` (the guest trapped or panicked), ``timeout``,
    ``memory``, ``bad-argument``, ``not-found``, ``infeasible``,
    ``host-died``, ``canceled``, ``dependency``, ``too-large``, ``lost``,
    ``actor-died``, ``refused`` (a limit on this client) or ``internal``.
    The message carries the guest's panic message when it has one.
    """

    kind: str = "internal"
    task_id: str = ""


class ActorDiedError(TaskError):
    """The actor a call went to is dead (killed, or out of restarts)."""


class ObjectLostError(TaskError):
    """An object was lost with its host and could not be rebuilt."""


class TaskCancelledError(TaskError):
    """The task was cancelled with ``weft.cancel``."""


class GetTimeoutError(WeftError, TimeoutError):
    """``weft.get`` or ``weft.wait`` ran past its timeout."""


class WeftConnectionError(WeftError, ConnectionError):
    """No controller of the cluster could be reached."""


class GuestError(WeftError):
    """A function returned the ``err`` side of its WIT ``result``.

    ``value`` is that err value, converted to Python.
    """

    def __init__(self, value: Any) -> None:
        super().__init__(f"the function returned an error: {value!r}")
        self.value = value
