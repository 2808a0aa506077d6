"""Actors and the object store from Python against a local cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Callable

import pytest

import weft

from .waiting import eventually


def test_actor_calls_run_in_order(local: str) -> None:
    Counter = weft.actor_class("counter", "counter")
    counter = Counter.remote(0)
    refs = [counter.incr.remote() for _ in range(1000)]
    assert weft.get(refs) == list(range(1, 1001))
    assert weft.get(counter.add.remote(5)) == 1005
    assert weft.kill(counter)
    with pytest.raises(weft.ActorDiedError):
        weft.get(counter.get.remote(), timeout=30)


def test_a_concurrent_actor_takes_calls_at_once(local: str) -> None:
    from .conftest import guest

    weft.deploy(guest("weft_async_actor"), name="async-actor")
    cls = weft.actor_class("async-actor", "-")
    concurrent = cls.options(max_concurrency=50).remote()
    started = time.monotonic()
    assert weft.get([concurrent.nap.remote(300) for _ in range(20)]) == [300] * 20
    assert time.monotonic() - started < 3.0, "20 naps of 300 ms ran at once"
    grouped = cls.options(
        max_concurrency=50, concurrency_groups={"slow": 1}, method_groups={"nap": "slow"}
    ).remote()
    weft.get([grouped.nap.remote(50) for _ in range(4)])
    assert weft.get(grouped.peak.remote()) == 1
    with pytest.raises(weft.WeftError, match="async func"):
        weft.actor_class("testkit", "-").options(max_concurrency=2).remote()


def test_a_named_detached_actor_is_found_from_another_process(local: str) -> None:
    Counter = weft.actor_class("counter", "counter")
    hits = Counter.options(name="hits", namespace="py", lifetime="detached", max_restarts=3).remote(10)
    assert weft.get(hits.incr.remote()) == 11
    other = textwrap.dedent(
        f"""
        import weft
        weft.init({local!r})
        hits = weft.get_actor("hits", namespace="py")
        print(weft.get(hits.incr.remote()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", other], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "12"
    assert weft.get(weft.get_actor("hits", namespace="py").get.remote()) == 12
    assert any(a["name"] == "hits" and a["state"] == "alive" for a in weft.actors())
    weft.kill(hits)


def test_actor_errors_are_clear(local: str) -> None:
    Counter = weft.actor_class("counter", "counter")
    with pytest.raises(TypeError, match=r"parameter `start` \(u64\): -1 is out of range for u64"):
        Counter.remote(-1)
    counter = Counter.remote(1)
    with pytest.raises(weft.WeftError, match="has no method `fly`"):
        counter.fly.remote()
    with pytest.raises(weft.WeftError):
        weft.get_actor("no-such-actor")
    weft.kill(counter)


def test_a_handle_passes_to_another_handle_lookup(local: str) -> None:
    counter = weft.actor_class("counter", "counter").remote(3)
    same = weft.ActorHandle(counter.id)
    assert weft.get(same.incr.remote()) == 4
    weft.kill(counter)


def _mapping_of(address: int) -> str:
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, *rest = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in span.split("-"))
            if lo <= address < hi:
                return rest[-1].strip() if len(rest) == 5 else ""
    return ""


def test_a_large_numpy_array_reads_back_without_a_copy(local: str) -> None:
    np = pytest.importorskip("numpy")
    array = np.random.default_rng(7).integers(0, 255, size=100 << 20, dtype=np.uint8)
    ref = weft.put(array)
    view = weft.get(ref)
    assert isinstance(view, memoryview) and view.readonly
    back = np.frombuffer(view, dtype=np.uint8)
    address = back.__array_interface__["data"][0]
    mapping = _mapping_of(address)
    assert mapping.startswith("/dev/shm/"), mapping
    assert np.array_equal(back, array)
    stores = weft.memory()
    assert len(stores) == 1 and stores[0]["used"] >= array.nbytes
    assert any(id == ref.id and state == "primary" for id, _size, state in stores[0]["largest"])


def _pins() -> int:
    return sum(int(s["client_pins"]) for s in weft.memory())


def _until(check: Callable[[], bool], seconds: float = 30) -> bool:
    try:
        return eventually(check, seconds)
    except TimeoutError:
        return False


def test_a_view_pins_its_object_until_dropped_even_after_the_ref_is_freed(local: str) -> None:
    data = bytes(range(256)) * (4 << 12)  # 4 MiB: held in the store, not inline
    ref = weft.put(data)
    before = _pins()
    view = weft.get(ref)
    assert _pins() == before + 1
    del ref  # the cluster frees the object; the reader still holds it
    for _ in range(8):  # new objects want room; none may take the pinned pages
        weft.get(weft.put(bytes(4 << 20)))
    assert view == data
    del view
    assert _until(lambda: _pins() == before)


def test_a_killed_reader_lets_go_of_its_pins(local: str) -> None:
    ref = weft.put(b"\x07" * (4 << 20))
    before = _pins()
    reader = textwrap.dedent(
        f"""
        import sys, time, weft
        weft.init({local!r})
        view = weft.get(weft.ObjectRef({ref.id!r}))
        assert view[0] == 7
        print("holding", flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", reader], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        assert _pins() == before + 1
        child.kill()
        child.wait(timeout=30)
        assert _until(lambda: _pins() == before), "the host still holds the dead reader's pin"
    finally:
        child.kill()
    assert weft.get(ref)[0] == 7


def test_put_takes_only_buffers(local: str) -> None:
    with pytest.raises(TypeError, match="weft.put takes bytes"):
        weft.put("text")
    assert bytes(weft.get(weft.put(b"small"))) == b"small"


def test_the_cluster_lists_its_objects(local: str) -> None:
    ref = weft.put(b"x" * (1 << 20))
    # The put reaches the leader on the session stream, the listing on
    # its own call.
    mine = eventually(
        lambda: next((o for o in weft.objects() if o["id"] == ref.id), None), 10, "the put listed"
    )
    assert mine["kind"] == "put" and mine["size"] >= 1 << 20
    assert mine["held_by"] != "" and mine["copies"][0][1] == "primary", mine
    del ref
    eventually(lambda: all(o["id"] != mine["id"] for o in weft.objects()), 10, "the released object gone")
