"""Actors: create one, find one by name, call it, kill it."""

from __future__ import annotations

from typing import Any, Optional

from ._common import binding, call as _invoke
from .tasks import arguments



def create(
    component: str,
    cls: str,
    *args: Any,
    name: Optional[str] = None,
    namespace: Optional[str] = None,
    detached: Optional[bool] = None,
    max_restarts: Optional[int] = None,
    max_task_retries: Optional[int] = None,
    cpus: Optional[float] = None,
) -> Any:
    """Creates an actor of ``component``'s resource ``cls`` (``""`` for an
    instance actor, which takes no ``args``), its constructor called with
    ``args`` (encoded as a task's are)."""
    options = binding("actors").Options(
        name=name,
        namespace=namespace,
        detached=detached,
        max_restarts=max_restarts,
        max_task_retries=max_task_retries,
        cpus=cpus,
        checkpoint_every_calls=None,
        checkpoint_every_ms=None,
    )
    return _invoke(binding("actors").create, component, cls, arguments(args), options)


def lookup(name: str, namespace: Optional[str] = None) -> Any:
    """The live actor called ``name``."""
    return _invoke(binding("actors").lookup, name, namespace)


def call(actor: Any, method: str, *args: Any) -> Any:
    """Calls ``method`` (snake_case or kebab-case); returns the ref of its
    result, read with ``tasks.get``."""
    return _invoke(binding("actors").call, actor, method.replace("_", "-"), arguments(args))


def kill(actor: Any) -> None:
    """Kills the actor for good."""
    _invoke(binding("actors").kill, actor)
