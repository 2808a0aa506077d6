"""Tasks from Python against a local cluster: submit, get, refs as
arguments, wait, cancel, and the errors a user sees."""

from __future__ import annotations

import asyncio
import time

import pytest

import weft

from .conftest import guest
from .waiting import eventually


def test_init_connects_and_says_so(local: str) -> None:
    assert weft.is_initialized()
    assert local.startswith("127.0.0.1:")
    with pytest.raises(RuntimeError, match="already called"):
        weft.init()
    assert weft.init(ignore_reinit_error=True) == local


def test_fan_out_and_get(local: str) -> None:
    pi = weft.component("pi")
    refs = [pi.estimate.remote(20_000, seed) for seed in range(16)]
    values = weft.get(refs)
    assert len(values) == 16
    assert all(2.9 < v < 3.4 for v in values)
    # The same seed gives the same estimate.
    assert weft.get(pi.estimate.remote(20_000, 3)) == values[3]


def test_functions_in_interfaces_by_attribute_and_by_wit_name(local: str) -> None:
    tk = weft.component("testkit")
    assert weft.get(tk.add.remote(2, 40)) == 42
    assert weft.get(tk.values.echo_string.remote("hi")) == "hi"
    assert weft.get(tk["values.echo-string"].remote("wit")) == "wit"
    assert "echo_point" in dir(tk.values)
    with pytest.raises(AttributeError, match="no function or interface `nope`"):
        tk.nope


def test_logs_are_what_the_guest_printed(local: str) -> None:
    tk = weft.component("testkit")
    ref = tk.chatter.remote(300)
    assert weft.get(ref) == 300
    lines = weft.logs(ref)
    assert lines == [f"line {i} of some chatter from the guest" for i in range(300)]
    assert weft.logs(ref, tail=1) == ["line 299 of some chatter from the guest"]
    with pytest.raises(weft.WeftError, match="knows no task nope"):
        weft.logs("nope")


def test_a_ref_passes_as_an_argument(local: str) -> None:
    tk = weft.component("testkit")
    data = weft.put(b"abc" * 1000)
    # A list<u8> parameter gets the object's value; the task waits for it.
    assert weft.get(tk.checksum_bytes.remote(data)) == weft.get(tk.checksum.remote(data))
    # A task's result passes the same way.
    total = tk.add.remote(tk.add.remote(1, 2), 4)
    assert weft.get(total) == 7


def test_wait_returns_k_of_n_and_honours_its_timeout(local: str) -> None:
    tk = weft.component("testkit")
    fast = [tk.busy.remote(1) for _ in range(3)]
    slow = tk.busy.remote(3_000)
    ready, not_ready = weft.wait(fast + [slow], num_returns=3, timeout=10)
    assert ready == fast and not_ready == [slow]
    start = time.monotonic()
    ready, not_ready = weft.wait([slow], num_returns=1, timeout=0.2)
    assert (ready, not_ready) == ([], [slow])
    assert time.monotonic() - start < 2
    with pytest.raises(weft.GetTimeoutError):
        weft.get(slow, timeout=0.1)
    assert weft.get(slow) == 3_000


def test_cancel_stops_an_endless_task(local: str) -> None:
    tk = weft.component("testkit")
    ref = tk.spin.remote()
    eventually(lambda: any(t["id"] == ref.id for t in weft.tasks("running")), 30, "the task running")
    assert weft.cancel(ref)
    with pytest.raises(weft.TaskError) as err:
        weft.get(ref, timeout=30)
    assert err.value.kind == "canceled"


def test_a_cancel_right_after_the_submission_reaches_its_task(local: str) -> None:
    tk = weft.component("testkit")
    for _ in range(30):
        ref = tk.spin.remote()
        assert weft.cancel(ref)
        with pytest.raises(weft.TaskError) as err:
            weft.get(ref, timeout=30)
        assert err.value.kind == "canceled"


def test_a_trap_is_a_task_error_with_the_panic_message(local: str) -> None:
    tk = weft.component("testkit")
    with pytest.raises(weft.TaskError) as err:
        weft.get(tk.fail.options(max_retries=0).remote("the guest gave up"))
    assert err.value.kind == "trap"
    assert "the guest gave up" in str(err.value)


def test_bad_arguments_name_the_parameter_and_its_type(local: str) -> None:
    tk = weft.component("testkit")
    with pytest.raises(TypeError, match=r"testkit.add: parameter `b` \(s32\): expected an int, got str"):
        tk.add.remote(1, "2")
    with pytest.raises(TypeError, match=r"out of range for s32"):
        tk.add.remote(1, 2**40)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        tk.add.remote(1)
    with pytest.raises(weft.WeftError, match="nothing-here"):
        weft.component("nothing-here").f.remote()


def test_options_reach_the_scheduler(local: str) -> None:
    tk = weft.component("testkit")
    ref = tk.add.options(num_cpus=0.5, max_retries=1, timeout=5).remote(1, 1)
    assert weft.get(ref) == 2
    here = weft.nodes()[0]["id"]
    pinned = tk.add.options(scheduling_strategy=weft.NodeAffinitySchedulingStrategy(here))
    assert weft.get(pinned.remote(2, 2)) == 4
    anywhere = weft.NodeAffinitySchedulingStrategy("no-such-host", soft=True)
    assert weft.get(tk.add.options(scheduling_strategy=anywhere).remote(3, 3), timeout=30) == 6
    assert weft.get(tk.add.options(scheduling_strategy="SPREAD").remote(4, 4)) == 8
    with pytest.raises(ValueError, match="unknown scheduling_strategy"):
        tk.add.options(scheduling_strategy="NEAREST")
    with pytest.raises(weft.TaskError) as err:
        weft.get(tk.add.options(num_cpus=64).remote(1, 1), timeout=30)
    assert err.value.kind == "infeasible"
    with pytest.raises(weft.TaskError) as err:
        weft.get(tk.spin.options(timeout=0.5, max_retries=0).remote(), timeout=30)
    assert err.value.kind == "timeout"


def test_await_a_ref(local: str) -> None:
    pi = weft.component("pi")

    async def main() -> list:
        return await asyncio.gather(*(pi.estimate.remote(1_000, s) for s in range(4)))

    assert len(asyncio.run(main())) == 4


def test_deploy_returns_once_the_host_has_the_component_ready(local: str) -> None:
    # The fixture deployed four components: each was compiled (or loaded
    # from the artifact cache) by the one host before its deploy returned,
    # and the host's counters arrived with its report.
    engine = weft.nodes()[0]["engine"]
    assert engine["compiled"] + engine["loaded_from_disk"] == 4, engine
    weft.deploy(guest("example_echo"), name="echo", prepare=False)
    engine = weft.nodes()[0]["engine"]
    assert engine["compiled"] + engine["loaded_from_disk"] == 4, engine


def test_state_and_admin(local: str) -> None:
    nodes = weft.nodes()
    assert len(nodes) == 1 and nodes[0]["alive"]
    assert weft.cluster_resources()["CPU"] == 4
    assert 0 <= weft.available_resources()["CPU"] <= 4
    ref = weft.component("pi").estimate.remote(1_000, 1)
    weft.get(ref)
    assert any(t["id"] == ref.id and t["state"] == "finished" for t in weft.tasks())
    # Once the last ref is gone, the cluster forgets the task.
    id = ref.id
    del ref
    eventually(lambda: all(t["id"] != id for t in weft.tasks()), 10, "the released task leaving the list")
    weft.kv.put("greeting", "hello", namespace="py")
    assert weft.kv.get("greeting", namespace="py") == b"hello"
    assert weft.kv.list(namespace="py") == ["greeting"]
    assert weft.kv.delete("greeting", namespace="py")
    assert weft.kv.get("greeting", namespace="py") is None
