"""Streaming tasks from Python: ``num_returns="streaming"`` gives an
``ObjectRefGenerator`` whose items arrive in order while the task runs,
with ``for`` and ``async for``, backpressure, and an early drop."""

from __future__ import annotations

import asyncio
import gc

import pytest

import weft

from .waiting import eventually


def test_ten_thousand_items_arrive_in_order_while_the_task_runs(local: str) -> None:
    tk = weft.component("testkit")
    # The producer holds on for 3 s after its last item.
    gen = tk.streams.count.options(num_returns="streaming").remote(10_000, 0, 3_000)
    assert isinstance(gen, weft.ObjectRefGenerator)
    seen = []
    for ref in gen:
        seen.append(weft.get(ref))
        if len(seen) == 10_000:
            ready, _ = weft.wait([gen.task_ref], timeout=0)
            assert ready == [], "every item came before the end"
    assert seen == list(range(10_000))
    assert weft.get(gen.task_ref) == 10_000


def test_async_for_reads_the_items(local: str) -> None:
    tk = weft.component("testkit")

    async def read() -> list:
        gen = tk.streams.count.options(num_returns="streaming").remote(50, 0, 0)
        return [await ref async for ref in gen]

    assert asyncio.run(read()) == list(range(50))


def test_backpressure_holds_the_producer(local: str) -> None:
    tk = weft.component("testkit")
    gen = tk.streams.count.options(
        num_returns="streaming", _generator_backpressure_num_objects=5
    ).remote(100, 0, 0)
    first = [weft.get(next(gen)) for _ in range(3)]
    assert first == [0, 1, 2]
    ready, _ = weft.wait([gen.task_ref], timeout=1.0)
    assert ready == [], "the producer waits for the consumer"
    assert [weft.get(ref) for ref in gen] == list(range(3, 100))


def test_a_failed_stream_raises_after_its_items(local: str) -> None:
    tk = weft.component("testkit")
    # `fail` emits nothing: the first read raises the trap.
    gen = tk.fail.options(num_returns="streaming", max_retries=0).remote("no items today")
    with pytest.raises(weft.TaskError) as err:
        next(gen)
    assert "no items today" in str(err.value)


def test_dropping_a_generator_cancels_its_task(local: str) -> None:
    tk = weft.component("testkit")
    gen = tk.streams.count.options(
        num_returns="streaming", _generator_backpressure_num_objects=2
    ).remote(1_000, 0, 0)
    task = gen.task_ref
    assert weft.get(next(gen)) == 0
    del gen
    gc.collect()
    with pytest.raises(weft.TaskCancelledError):
        weft.get(task, timeout=30)
    eventually(
        lambda: not any(t["id"] == task.id for t in weft.tasks("running")),
        10,
        "the producer stopped",
    )


def test_a_plain_task_cannot_emit_and_num_returns_is_checked(local: str) -> None:
    tk = weft.component("testkit")
    with pytest.raises(weft.TaskError) as err:
        weft.get(tk.streams.count.options(max_retries=0).remote(3, 0, 0))
    assert "is not streaming" in str(err.value)
    with pytest.raises(ValueError, match="num_returns"):
        tk.add.options(num_returns=2)


def test_an_actor_method_streams_its_items(local: str) -> None:
    actor = weft.actor_class("testkit", "-").remote()
    gen = actor.streams.count.options(num_returns="streaming").remote(50, 0, 0)
    assert [weft.get(ref) for ref in gen] == list(range(50))
    assert weft.get(gen.task_ref) == 50
    weft.kill(actor)
