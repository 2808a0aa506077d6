"""Tasks: submit a component's function, get its result, wait, cancel."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional

from ._common import ObjectRef, binding, call, is_ref, millis
from .values import decode, encode


def arguments(args: Any) -> List[Any]:
    """Python values as task arguments: a ref by ref (the task waits for
    it), anything else encoded as it is (the callee's host types it)."""
    return [
        binding("tasks").Argument_Object(value=a) if is_ref(a) else binding("tasks").Argument_Value(value=encode(a))
        for a in args
    ]



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
    strategy: Optional[str] = None,
    node: Optional[str] = None,
    soft: Optional[bool] = None,
    memory: Optional[int] = None,
    resources: Optional[Dict[str, float]] = None,
    stream: Optional[int] = None,
) -> Any:
    """Submits ``component``'s ``function`` (``func`` or ``iface.func``)
    with ``args``; returns the ref of its result at once. A ref argument
    passes by ref (the task waits for it); others are typed by the
    function's parameters where the function runs. ``strategy``
    (``"default"`` or ``"spread"``), ``node`` (and ``soft``), ``memory``
    and custom ``resources`` place it as a client's options do; ``stream``
    (a backpressure window, 0 for none) makes it a streaming task."""
    tasks = binding("tasks")
    options = tasks.Options(
        timeout_ms=millis(timeout),
        memory_limit_bytes=memory_limit,
        cpus=cpus,
        gpus=gpus,
        max_retries=max_retries,
        retry_on_trap=retry_on_trap,
    )
    placed = (strategy, node, soft, memory, resources, stream)
    if all(p is None for p in placed):
        return call(tasks.submit, component, function, arguments(args), options)
    placement = tasks.Placement(
        strategy=strategy,
        node=node,
        soft=soft,
        memory=memory,
        resources=[(str(k), float(v)) for k, v in (resources or {}).items()],
        streaming=stream,
    )
    return call(tasks.submit_placed, component, function, arguments(args), options, placement)


def get(ref: Any, timeout: Optional[float] = None) -> Any:
    """The task's result as a Python value (records as dicts, variants as
    ``{"case": value}``, ``list<u8>`` as bytes, refs as ``{"id": ...}``;
    ``None`` for a function that returns nothing)."""
    encoded = call(binding("tasks").get, ref, millis(timeout))
    return None if encoded is None else decode(encoded)


def wait(refs: List[Any], num_ready: int = 1, timeout: Optional[float] = None) -> List[Any]:
    """Waits until ``num_ready`` of ``refs`` are done (or the timeout);
    returns the refs that are."""
    return call(binding("tasks").wait, list(refs), num_ready, millis(timeout))


def cancel(ref: Any) -> None:
    """Stops a task."""
    call(binding("tasks").cancel, ref)


def items(ref: Any) -> Iterator[Any]:
    """The items of the streaming task ``ref`` (submitted with
    ``stream=``), as refs, in order, as they come; the task's failure is
    raised after its items."""
    n = 0
    while True:
        item = ObjectRef(f"{ref.id}.{n}")
        ready = call(binding("tasks").wait, [item, ref], 1, None)
        if any(r.id == item.id for r in ready):
            n += 1
            yield item
            continue
        # The end: items arrive before it, so there are no more. A failed
        # task raises here.
        call(binding("tasks").get, ref, None)
        return


def emit(value: Any) -> None:
    """Hands the caller the next item of this task's stream (a task
    submitted with ``num_returns="streaming"``): the caller sees it at
    once, in order, while the task goes on. Waits while the caller has a
    backpressure limit's worth of items unread."""
    call(binding("tasks").emit, encode(value))


def emit_all(items: Iterable[Any]) -> int:
    """Emits every item of ``items`` (a generator, say) as it is made;
    returns how many there were. A streaming task written as a Python
    generator ends ``return emit_all(gen())``."""
    n = 0
    for item in items:
        emit(item)
        n += 1
    return n
