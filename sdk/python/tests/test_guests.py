"""Guests written in Python (componentize-py) and JavaScript
(componentize-js), built with `weft build`: every WIT type through a task,
nested tasks, an exception that names itself, an actor, and the examples.

`weft build` installs each language's tool into `target/weft-tools` on
first use (as it would into a user's cache)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import weft

from .conftest import ROOT, guest, weft_build
from .waiting import eventually

LANGS = ["py", "js"]

@pytest.fixture(scope="module")
def guests() -> Iterator[str]:
    weft.shutdown()
    address = weft.init(num_cpus=4)
    for lang in LANGS:
        weft.deploy(str(weft_build(ROOT / "tests" / "guests" / f"{lang}-testkit")), name=f"{lang}-testkit")
    weft.deploy(str(weft_build(ROOT / "examples" / "py-wordfreq")), name="py-wordfreq")
    weft.deploy(str(weft_build(ROOT / "examples" / "js-graph")), name="js-graph")
    weft.deploy(guest("weft_testkit"), name="testkit")
    weft.deploy(guest("example_pi"), name="pi")
    weft.deploy(str(weft_build(ROOT / "examples" / "polyglot" / "stats")), name="polyglot-stats")
    weft.deploy(str(weft_build(ROOT / "examples" / "polyglot" / "driver")), name="polyglot")
    yield address
    weft.shutdown()


def echo(lang: str, name: str, *args: Any) -> Any:
    kit = weft.component(f"{lang}-testkit")
    return weft.get(getattr(kit.values, f"echo_{name}").remote(*args), timeout=120)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("bool", False, False),
        ("char", "ß", "ß"),
        ("string", "naïve café ☕", "naïve café ☕"),
        ("bytes", bytes(range(256)), bytes(range(256))),
        ("strings", ["a", "ü"], ["a", "ü"]),
        ("point", {"x": -1, "y": 2, "label": "π"}, {"x": -1, "y": 2, "label": "π"}),
        ("shape", weft.Variant("rect", {"x": 1, "y": 1, "label": ""}),
         weft.Variant("rect", {"x": 1, "y": 1, "label": ""})),
        ("shape", "empty", weft.Variant("empty")),
        ("shape", {"circle": 1.5}, weft.Variant("circle", 1.5)),
        ("color", "blue", "blue"),
        ("perms", {"read", "write"}, {"read", "write"}),
        ("option", None, None),
        ("option", 9, 9),
        ("tuple", (7, "seven", True), (7, "seven", True)),
        ("nested", [None, {"x": 0, "y": 0, "label": "o"}], [None, {"x": 0, "y": 0, "label": "o"}]),
    ],
)
def test_every_type_round_trips_through_a_guest_task(
    guests: str, lang: str, name: str, value: Any, expected: Any
) -> None:
    assert echo(lang, name, value) == expected


@pytest.mark.parametrize("lang", LANGS)
def test_numbers_and_results(guests: str, lang: str) -> None:
    numbers = (255, -32768, 2**32 - 1, -(2**63), 2**64 - 1, 0.5, -1e300)
    assert echo(lang, "numbers", *numbers) == numbers
    assert echo(lang, "result", {"ok": "fine"}) == "fine"
    with pytest.raises(weft.GuestError) as err:
        echo(lang, "result", {"err": 7})
    assert err.value.value == 7


def line_of(path: Path, text: str) -> int:
    """The number of the first line of `path` holding `text`."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


PY_BOOM = line_of(ROOT / "tests" / "guests" / "py-testkit" / "app.py", 'raise ValueError("boom")')


@pytest.mark.parametrize(
    "lang,needles",
    [
        ("py", ["ValueError: boom", "app.py", f"line {PY_BOOM}", "in inner"]),
        ("js", ["boom (at inner@", "app.js:", "Stack:"]),
    ],
)
def test_an_exception_names_its_message_and_line(guests: str, lang: str, needles: list) -> None:
    kit = weft.component(f"{lang}-testkit")
    with pytest.raises(weft.TaskError) as err:
        weft.get(kit.boom.options(max_retries=0).remote(), timeout=120)
    assert err.value.kind == "trap"
    for needle in needles:
        assert needle in str(err.value), str(err.value)


@pytest.mark.parametrize("lang", LANGS)
def test_nested_tasks_reach_rust_and_the_guest_itself(guests: str, lang: str) -> None:
    kit = weft.component(f"{lang}-testkit")
    assert weft.get(kit.sum_of_adds.remote("testkit", 20), timeout=120) == sum(2 * i for i in range(20))
    assert weft.get(kit.sum_of_adds.remote(f"{lang}-testkit", 5), timeout=120) == 20


@pytest.mark.parametrize("lang", LANGS)
def test_max_calls_lets_one_owners_tasks_share_an_instance(guests: str, lang: str) -> None:
    tally = weft.component(f"{lang}-testkit").tally
    reused = weft.nodes()[0]["engine"]["reused"]
    # By default every task starts from a fresh instance.
    assert [weft.get(tally.remote(), timeout=120) for _ in range(3)] == [1, 1, 1]
    # With max_calls=3 one instance runs three tasks, then a fresh one
    # takes over; the globals show it.
    shared = tally.options(max_calls=3)
    assert [weft.get(shared.remote(), timeout=120) for _ in range(4)] == [1, 2, 3, 1]
    # The host's counters arrive with its heartbeats.
    eventually(lambda: weft.nodes()[0]["engine"]["reused"] >= reused + 2, 10, "the host counting the reused instances")
    with pytest.raises(ValueError, match="max_calls must be 0 or more"):
        tally.options(max_calls=-1)


@pytest.mark.parametrize("lang", LANGS)
def test_objects_from_a_guest(guests: str, lang: str) -> None:
    kit = weft.component(f"{lang}-testkit")
    data = os.urandom(200_000)
    assert bytes(weft.get(kit.store_and_read.remote(data), timeout=120)) == data


@pytest.mark.parametrize("lang", LANGS)
def test_an_actor_keeps_state_across_ordered_calls(guests: str, lang: str) -> None:
    counter = weft.actor_class(f"{lang}-testkit", "counter").remote(0)
    assert weft.get([counter.incr.remote() for _ in range(1000)], timeout=300) == list(range(1, 1001))
    assert weft.get(counter.get.remote()) == 1000
    weft.kill(counter)


@pytest.mark.parametrize("lang", LANGS)
def test_a_guest_places_its_tasks_on_a_node(guests: str, lang: str) -> None:
    kit = weft.component(f"{lang}-testkit")
    node = weft.nodes()[0]["id"]
    assert weft.get(kit.placed_add.remote("testkit", node), timeout=120) == 3
    with pytest.raises(weft.TaskError, match="no-such-host"):
        weft.get(kit.placed_add.options(max_retries=0).remote("testkit", "no-such-host"), timeout=120)


@pytest.mark.parametrize("lang", LANGS)
def test_a_guest_generator_streams_its_items(guests: str, lang: str) -> None:
    kit = weft.component(f"{lang}-testkit")
    gen = kit.squares.options(num_returns="streaming").remote(500)
    assert [weft.get(ref) for ref in gen] == [i * i for i in range(500)]
    assert weft.get(gen.task_ref) == 500
    # A guest reads a stream too, with backpressure.
    total = weft.get(kit.sum_of_squares.remote(f"{lang}-testkit", 100), timeout=120)
    assert total == sum(i * i for i in range(100))


def test_a_python_actor_with_async_methods_takes_calls_at_once(guests: str) -> None:
    cls = weft.actor_class("py-testkit", "-")
    concurrent = cls.options(max_concurrency=20).remote()
    started = time.monotonic()
    assert weft.get([concurrent.nap.remote(500) for _ in range(10)], timeout=120) == [500] * 10
    assert time.monotonic() - started < 4.0, "10 naps of 500 ms overlapped"
    assert weft.get(concurrent.peak.remote()) > 1
    # Its plain exports are refused on a concurrent actor, naming why.
    with pytest.raises(weft.TaskError, match="async func"):
        weft.get(concurrent.add.remote(1, 2))
    weft.kill(concurrent)


def test_the_word_frequency_example(guests: str) -> None:
    text = (ROOT / "README.md").read_bytes() * 20
    ref = weft.put(text)
    wf = weft.component("py-wordfreq")
    top = weft.get(wf.top_words.remote("py-wordfreq", ref, 4, 5), timeout=300)
    expected: dict = {}
    for w in text.decode().split():
        w = w.strip(".,;:!?()[]{}\"'`*#").lower()
        if w:
            expected[w] = expected.get(w, 0) + 1
    # Counted in 4 ranges, every count is what one pass over the text says.
    assert len(top) == 5
    assert all(expected[word] == count for word, count in top), top
    assert top[0][1] == max(expected.values())


def test_the_graph_example(guests: str) -> None:
    edges = [
        {"source": "a", "target": "b", "weight": 1.0},
        {"source": "b", "target": "c", "weight": 2.0},
        {"source": "a", "target": "c", "weight": 5.0},
        {"source": "c", "target": "d", "weight": 1.0},
    ]
    graph = weft.component("js-graph")
    distances = weft.get(graph.shortest_paths.remote(edges, "a"), timeout=120)
    assert distances == [("a", 0.0), ("b", 1.0), ("c", 3.0), ("d", 4.0)]


def test_the_polyglot_example(guests: str) -> None:
    driver = weft.component("polyglot")
    # The first run compiles the Python and JavaScript components.
    summary = weft.get(driver.run.options(timeout=600).remote("pi", "polyglot-stats", 6, 50_000), timeout=900)
    assert 3.0 < summary["mean"] < 3.3 and summary["stddev"] < 0.1
    assert len(summary["notes"]) == 6 and all(" from pi" in n for n in summary["notes"])


def test_weft_build_says_what_it_looked_for(tmp_path: Path) -> None:
    done = subprocess.run([os.environ["WEFT_BIN"], "build", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0
    for needle in ["looked for Cargo.toml", "app.py", "app.js"]:
        assert needle in done.stderr, done.stderr


def test_weft_build_names_a_missing_world(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "py-wordfreq", tmp_path / "app")
    done = subprocess.run(
        [os.environ["WEFT_BIN"], "build", str(tmp_path / "app"), "--world", "nope"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "no world `nope` (it has: py-wordfreq)" in done.stderr


def test_weft_build_builds_a_rust_crate(tmp_path: Path) -> None:
    out = tmp_path / "hello.wasm"
    done = subprocess.run(
        [os.environ["WEFT_BIN"], "build", str(ROOT / "examples" / "hello"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:4] == b"\0asm"


@pytest.mark.parametrize("lang,block", [("py", "python"), ("js", "js")])
def test_the_guest_readme_tours_build_and_run(guests: str, tmp_path: Path, lang: str, block: str) -> None:
    readme = (ROOT / "sdk" / f"{'python' if lang == 'py' else 'js'}-guest" / "README.md").read_text()
    (wit,) = re.findall(r"```wit\n(.*?)```", readme, re.S)
    (app,) = re.findall(rf"```{block}\n(.*?)```", readme, re.S)
    tour = tmp_path / f"tour-{lang}"
    (tour / "wit").mkdir(parents=True)
    (tour / "wit" / "world.wit").write_text(wit)
    (tour / f"app.{lang}").write_text(app)
    name = f"tour-{lang}"
    weft.deploy(str(weft_build(tour)), name=name)
    component = weft.component(name)
    assert weft.get(component.squares.remote(name, 5), timeout=300) == [0, 1, 4, 9, 16]
    assert weft.get(component.shout.remote("quiet"), timeout=120) == "QUIET"
