"""Serve from Python: weft.serve.run / status / delete against a local
cluster (the HTTP path itself is tested end to end in tests/e2e/serve.rs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

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
