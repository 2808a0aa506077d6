"""The SDK against a 3-controller, 2-host cluster of real processes: work
survives a killed host and a killed leader."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

import weft

from .cluster import Group, group_with_hosts
from .conftest import guest


@pytest.fixture(scope="module")
def group() -> Iterator[Group]:
    weft.shutdown()
    group = group_with_hosts(3, ["h1", "h2"])
    try:
        weft.init(group.addresses)
        weft.deploy(guest("weft_testkit"), name="testkit")
        weft.deploy(guest("example_counter"), name="counter")
        yield group
    finally:
        weft.shutdown()
        group.stop()


def test_tasks_on_a_killed_host_still_complete(group: Group) -> None:
    tk = weft.component("testkit")
    refs = [tk.busy.remote(200) for _ in range(16)]
    time.sleep(0.3)
    group.kill_host("h1")
    try:
        assert weft.get(refs, timeout=120) == [200] * 16
    except Exception:
        print(group.logs())
        raise
    group.start_host("h3")


def test_a_leader_killed_mid_batch_loses_no_result_and_repeats_none(group: Group) -> None:
    tk = weft.component("testkit")
    before = weft._api._session().deliveries()
    refs = [tk.add.remote(i, i) for i in range(300)]
    time.sleep(0.2)
    group.kill(group.leader())
    try:
        assert weft.get(refs, timeout=120) == [2 * i for i in range(300)]
    except Exception:
        print(group.logs())
        raise
    assert weft._api._session().deliveries() - before == 300


def test_actor_calls_in_order_on_a_cluster(group: Group) -> None:
    counter = weft.actor_class("counter", "counter").remote(0)
    assert weft.get([counter.incr.remote() for _ in range(200)]) == list(range(1, 201))
    weft.kill(counter)
