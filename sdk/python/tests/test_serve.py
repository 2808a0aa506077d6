"""Serve from Python: weft.serve.run / status / delete and handles against
a local cluster (the HTTP path itself is tested end to end in
tests/e2e/serve.rs)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List

import pytest

import weft

from .conftest import guest


def app(name: str, component: str = "http-hello", route: str = "/py/...", **options: Any) -> Dict[str, Any]:
    deployment: Dict[str, Any] = {"name": "web", "component": component, "route": route}
    deployment.update(options)
    return {"name": name, "deployments": [deployment]}


def test_an_application_runs_its_replicas_and_goes(local: str, tmp_path: Path) -> None:
    weft.deploy(guest("example_http_hello"), name="http-hello")
    [shown] = weft.serve.run(app("pyapp", num_replicas=2))
    [web] = shown["deployments"]
    assert web["route"] == "/py/..." and web["target_replicas"] == 2
    assert [r["state"] for r in web["replicas"]] == ["running", "running"]
    # The same declaration again changes nothing; a YAML file reads alike.
    again = tmp_path / "app.yaml"
    again.write_text(
        "applications:\n"
        "  - name: pyapp\n"
        "    deployments:\n"
        "      - name: web\n"
        "        component: http-hello\n"
        "        route: /py/...\n"
        "        num_replicas: 2\n"
    )
    [same] = weft.serve.run(again)
    ids = sorted(r["id"] for r in same["deployments"][0]["replicas"])
    assert ids == sorted(r["id"] for r in web["replicas"])
    assert [a["name"] for a in weft.serve.status()] == ["pyapp"]

    weft.serve.delete("pyapp")
    assert weft.serve.status() == []
    with pytest.raises(weft.WeftError, match="no Serve application `pyapp`"):
        weft.serve.delete("pyapp")


def test_bad_applications_are_refused_by_name(local: str) -> None:
    with pytest.raises(weft.WeftError, match="unknown component `nowhere`"):
        weft.serve.run(app("bad", component="nowhere"))
    with pytest.raises(ValueError, match="unknown field `replicas`"):
        weft.serve.run(app("bad", replicas=2))
    assert weft.serve.status() == []


def test_handles_call_deployments_from_the_driver(local: str) -> None:
    weft.deploy(guest("example_http_hello"), name="http-hello")
    weft.serve.run(
        {
            "name": "calc",
            "deployments": [
                {"name": "adder", "component": "testkit", "function": "add", "num_replicas": 2},
                {"name": "web", "component": "http-hello"},
            ],
        }
    )
    adder = weft.serve.get_deployment_handle("adder", app_name="calc")
    assert adder.remote(40, 2).result(timeout_s=30) == 42
    # Calls run concurrently, and await as Ray's responses do.
    responses = [adder.remote(i, 1) for i in range(16)]
    assert [r.result() for r in responses] == [i + 1 for i in range(16)]

    async def gathered() -> List[Any]:
        return list(await asyncio.gather(*(adder.remote(i, i) for i in range(4))))

    assert asyncio.run(gathered()) == [0, 2, 4, 6]
    with pytest.raises(weft.WeftError, match="calc/adder answered 400"):
        adder.remote(1, "x").result()
    # A handler deployment without a route answers its HTTP requests.
    web = weft.serve.get_deployment_handle("web", app_name="calc")
    assert web.request("/hello/py") == (200, b"Hello, py!\n")
    status, _ = web.request("/elsewhere")
    assert status == 404
    with pytest.raises(weft.WeftError, match="no deployment nobody"):
        weft.serve.get_deployment_handle("nobody", app_name="calc")
    weft.serve.delete("calc")


def test_a_streaming_deployment_sends_values_as_they_come(local: str) -> None:
    weft.serve.run(
        {
            "name": "streams",
            "deployments": [
                {"name": "counter", "component": "testkit", "function": "streams.count", "stream": True}
            ],
        }
    )
    counter = weft.serve.get_deployment_handle("counter", app_name="streams").options(stream=True)
    assert list(counter.remote(3, 0, 0)) == [0, 1, 2, 3]

    async def collected() -> List[Any]:
        return [value async for value in counter.remote(2, 0, 0)]

    assert asyncio.run(collected()) == [0, 1, 2]
    with pytest.raises(weft.WeftError, match="answered 400"):
        list(counter.remote("x"))
    weft.serve.delete("streams")
