"""Tasks: submit a component's function, get its result, wait, cancel."""

from __future__ import annotations

import json
from typing import Any, List, Optional

from ._common import binding, call, is_ref, millis, to_json



def submit(
    component: str,
    function: str,
    *args: Any,
    timeout: Optional[float] = None,
    cpus: Optional[float] = None,
    gpus: Optional[int] = None,
    max_retries: Optional[int] = None,
    retry_on_trap: Optional[bool] = None,
    memory_limit: Optional[int] = None,
) -> Any:
    """Submits ``component``'s ``function`` (``func`` or ``iface.func``)
    with ``args``; returns the ref of its result at once. A ref argument
    passes by ref (the task waits for it); others are typed by the
    function's parameters."""
    arguments: List[Any] = [
        binding("tasks").Argument_Object(value=a) if is_ref(a) else binding("tasks").Argument_Json(value=to_json(a)) for a in args
    ]
    options = binding("tasks").Options(
        timeout_ms=millis(timeout),
        memory_limit_bytes=memory_limit,
        cpus=cpus,
        gpus=gpus,
        max_retries=max_retries,
        retry_on_trap=retry_on_trap,
    )
    return call(binding("tasks").submit, component, function, arguments, options)


def get(ref: Any, timeout: Optional[float] = None) -> Any:
    """The task's result as a Python value (records as dicts, variants as
    ``{"case": value}``, refs as ``{"id": ...}``)."""
    return json.loads(call(binding("tasks").get_json, ref, millis(timeout)))


def wait(refs: List[Any], num_ready: int = 1, timeout: Optional[float] = None) -> List[Any]:
    """Waits until ``num_ready`` of ``refs`` are done (or the timeout);
    returns the refs that are."""
    return call(binding("tasks").wait, list(refs), num_ready, millis(timeout))


def cancel(ref: Any) -> None:
    """Stops a task."""
    call(binding("tasks").cancel, ref)
