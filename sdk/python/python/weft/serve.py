"""Serve: applications of deployments, each a component behind a route with
replicas on hosts, as Ray Serve's config file declares them.

    weft.serve.run({"applications": [{
        "name": "site",
        "deployments": [{"name": "hello", "component": "http-hello",
                         "route": "/hello/...", "num_replicas": 2}],
    }]})
    print(weft.serve.status("site"))
    weft.serve.delete("site")

``run`` takes the file's content as a dict (a single application's dict
too), or the path of a YAML file; it is idempotent, and a component
deployed anew under its name rolls the replicas over without a failed
request.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Union

from ._api import _session

__all__ = ["delete", "run", "status"]


def run(
    config: Union[Dict[str, Any], str, "os.PathLike[str]"], *, wait: float = 30.0
) -> List[Dict[str, Any]]:
    """Declares the applications of ``config`` and waits up to ``wait``
    seconds for their replicas to run (``GetTimeoutError`` past it; 0: do
    not wait). Returns their statuses, as :func:`status` does."""
    if isinstance(config, dict):
        if "applications" not in config:
            config = {"applications": [config]}
        text = json.dumps(config)
    else:
        with open(config, encoding="utf-8") as f:
            text = f.read()
    result: List[Dict[str, Any]] = json.loads(_session().serve_run(text, wait))
    return result


def status(app: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every application (or ``app``): its deployments with their route,
    digest, target replicas, the requests gateways hold, the latest
    scaling decision, and each replica's host and state (``starting``,
    ``running`` or ``draining``)."""
    result: List[Dict[str, Any]] = json.loads(_session().serve_status(app or ""))
    return result


def delete(app: str) -> None:
    """Deletes application ``app``: its routes go at once, its replicas
    drain."""
    _session().serve_delete(app)
