"""The SDK against a 3-controller, 2-host cluster of real processes: work
survives a killed host and a killed leader."""

from __future__ import annotations

from typing import Iterator

import pytest

import weft

from .cluster import Group, group_with_hosts
from .conftest import ROOT, guest, weft_build
from .waiting import eventually


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
    eventually(lambda: any(t["host"] == "h1" for t in weft.tasks("running")), 30, "a task running on h1")
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
    # Mid-batch: the leader has placed some of them.
    eventually(lambda: any(t["state"] != "queued" for t in weft.tasks()), 30, "the batch under way")
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


@pytest.mark.parametrize("lang", ["py", "js"])
def test_nested_tasks_from_a_guest_run_on_both_hosts(group: Group, lang: str) -> None:
    kit = weft.deploy(str(weft_build(ROOT / "tests" / "guests" / f"{lang}-testkit")), name=f"{lang}-testkit")

    def calls() -> dict:
        return {n["id"]: n["engine"]["calls"] for n in weft.nodes() if n["alive"]}

    before = calls()
    assert len(before) == 2
    n = 60
    assert weft.get(kit.sum_of_adds.remote("testkit", n), timeout=300) == n * (n - 1)
    # Engine counters come with heartbeats. One host ran the guest; a host
    # with calls besides it ran some of its children.
    try:
        eventually(lambda: sum(calls().values()) - sum(before.values()) >= n + 1, 10, "the engine counts")
    except TimeoutError:
        pass  # the assertion below says what was counted
    ran = {h: c - before.get(h, 0) for h, c in calls().items()}
    assert sum(ran.values()) == n + 1, ran
    assert all(c > 0 for c in ran.values()), f"the nested tasks ran on one host only: {ran}"


def test_the_polyglot_graph_survives_a_killed_host(group: Group) -> None:
    weft.deploy(guest("example_pi"), name="pi")
    weft.deploy(str(weft_build(ROOT / "examples" / "polyglot" / "stats")), name="polyglot-stats")
    weft.deploy(str(weft_build(ROOT / "examples" / "polyglot" / "driver")), name="polyglot")
    driver = weft.component("polyglot")
    ref = driver.run.options(timeout=600).remote("pi", "polyglot-stats", 8, 20_000_000)
    # Kill the host the Python driver runs on once its nested tasks run:
    # the deploys compiled every component, so the graph starts at once.
    def fanned_out() -> str:
        running = weft.tasks("running")
        if any(t["id"] != ref.id for t in running):
            return next((t["host"] for t in running if t["id"] == ref.id), "")
        return ""

    host = eventually(fanned_out, 120, "the driver fanning out")
    group.kill_host(host)
    try:
        summary = weft.get(ref, timeout=900)
    except Exception:
        print(group.logs())
        raise
    assert 3.1 < summary["mean"] < 3.2 and len(summary["notes"]) == 8
    assert [t["attempts"] for t in weft.tasks() if t["id"] == ref.id] == [2]


def test_a_job_runs_its_driver_and_stops_by_name(group: Group) -> None:
    weft.deploy(guest("example_job"), name="job")
    job_id = weft.submit_job(
        "job", "run(20, 5)", runtime_env={"env_vars": {"JOB_COMPONENT": "job"}}
    )
    record = weft.wait_job(job_id, timeout=60)
    assert record["state"] == "SUCCEEDED", record
    assert record["result"] == str(sum(i * i for i in range(20)))
    assert record["env"] == {"JOB_COMPONENT": "job"}
    assert weft.logs(job_id, tail=1) == ["sum of squares: 2470"]

    weft.submit_job("job", "forever(1, 600000)", name="py-endless")
    eventually(lambda: weft.job("py-endless")["state"] == "RUNNING", 30, "py-endless running")
    assert weft.stop_job("py-endless") is True
    assert weft.stop_job("py-endless") is False
    stopped = weft.job("py-endless")
    assert stopped["state"] == "STOPPED" and "stopped by request" in stopped["reason"]
    assert job_id in {j["id"] for j in weft.list_jobs()}
    again = weft.submit_job("job", "run(2, 1)", submission_id="py-once")
    assert again == "py-once"
    assert weft.submit_job("job", "run(3, 1)", submission_id="py-once") == "py-once"
    assert weft.wait_job("py-once", timeout=60)["result"] == "1"
    with pytest.raises(ValueError, match=r"runtime_env keys \['pip'\] are not supported"):
        weft.submit_job("job", "run(1, 1)", runtime_env={"pip": ["numpy"]})
    with pytest.raises(weft.WeftError, match="no job `job-none`"):
        weft.job("job-none")


def test_placement_groups_by_rays_names(group: Group) -> None:
    from weft.util import placement_group, placement_group_table, remove_placement_group
    from weft.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    # Earlier tests kill hosts: make it two live ones again.
    live = [n["id"] for n in weft.nodes() if n["alive"]]
    for i in range(2 - len(live)):
        group.start_host(f"pg{i}")
    live = [n["id"] for n in weft.nodes() if n["alive"]]
    assert len(live) == 2, live
    pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
    assert weft.get(pg.ready(), timeout=30) is pg
    table = placement_group_table(pg)
    assert table["state"] == "CREATED"
    assert set(table["bundles_to_node_id"].values()) == set(live)
    assert pg.bundle_specs == [{"CPU": 1.0}, {"CPU": 1.0}]
    assert pg.id in placement_group_table()

    add = weft.component("testkit").add
    in_bundle = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=1)
    assert weft.get(add.options(scheduling_strategy=in_bundle).remote(1, 2)) == 3
    counter = (
        weft.actor_class("counter", "counter")
        .options(placement_group=pg, placement_group_bundle_index=0)
        .remote(5)
    )
    assert weft.get(counter.incr.remote()) == 6

    # Three bundles on distinct hosts, with two hosts: it waits, and says why.
    waiting = placement_group([{"CPU": 1}] * 3, strategy="STRICT_SPREAD")
    assert not waiting.wait(timeout_seconds=0.3)
    assert "3 distinct hosts" in waiting.pending_reason
    with pytest.raises(weft.GetTimeoutError):
        weft.get(waiting.ready(), timeout=0.2)
    with pytest.raises(ValueError, match="unknown placement strategy"):
        placement_group([{"CPU": 1}], strategy="TIGHT")

    # Removing the group kills its actor.
    assert remove_placement_group(pg)
    assert not remove_placement_group(pg)
    with pytest.raises(weft.ActorDiedError):
        weft.get(counter.incr.remote(), timeout=30)
    assert remove_placement_group(waiting)


def test_runtime_env_reaches_a_guest_written_for_wasi_config(group: Group) -> None:
    probe = weft.deploy(guest("weft_config_reader"), name="probe")
    env = {"config": {"greeting": "hi", "stage": "blue"}, "env_vars": {"MODE": "py"}}
    config = probe.probe.config.options(runtime_env=env)
    assert weft.get(config.remote("greeting")) == "hi"
    assert weft.get(probe.probe.config_keys.options(runtime_env=env).remote()) == ["greeting", "stage"]
    assert weft.get(probe.probe.env.options(runtime_env=env).remote("MODE")) == "py"
    # Without one, nothing.
    assert weft.get(probe.probe.config.remote("greeting")) is None
    # An actor's, by the same key.
    actor = weft.actor_class("probe", "-").options(runtime_env={"config": {"who": "actor"}}).remote()
    assert weft.get(actor.probe.config.remote("who")) == "actor"
    # A secret that does not exist fails the task, by name.
    with pytest.raises(weft.TaskError, match="no secret named `nothing`"):
        weft.get(probe.probe.config.options(runtime_env={"secrets": ["nothing"]}).remote("x"))
    with pytest.raises(ValueError, match=r"runtime_env keys \['conda'\]"):
        probe.probe.config.options(runtime_env={"conda": "env"})
    # A default at deploy fills what a call leaves empty (for this digest).
    weft.deploy(guest("weft_config_reader"), name="probe", runtime_env={"config": {"greeting": "dflt"}})
    assert weft.get(probe.probe.config.remote("greeting")) == "dflt"
    assert weft.get(config.remote("greeting")) == "hi"
