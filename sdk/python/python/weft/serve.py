"""Serve: applications of deployments, each a component behind a route with
replicas on hosts, as Ray Serve's config file declares them.

    weft.serve.run({"applications": [{
        "name": "site",
        "deployments": [{"name": "hello", "component": "http-hello",
                         "route": "/hello/...", "num_replicas": 2}],
    }]})
    print(weft.serve.status("site"))
    weft.serve.delete("site")

A driver calls a deployment through a handle, as with Ray Serve's
``DeploymentHandle``: the call goes through a host's HTTP gateway, which
routes it to a replica as any request (and answers 503 past the
deployment's queue)::

    add = weft.serve.get_deployment_handle("adder", app_name="calc")
    assert add.remote(40, 2).result() == 42
    answers = await asyncio.gather(*(add.remote(i, 1) for i in range(8)))

``run`` takes the file's content as a dict (a single application's dict
too), or the path of a YAML file; it is idempotent, and a component
deployed anew under its name rolls the replicas over without a failed
request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
from typing import (
    Any,
    AsyncIterator,
    Dict,
    Generator,
    Iterator,
    List,
    Literal,
    Optional,
    Tuple,
    Union,
    overload,
)

from . import _native
from ._api import _session

__all__ = [
    "DeploymentHandle",
    "DeploymentResponse",
    "DeploymentResponseGenerator",
    "StreamingDeploymentHandle",
    "delete",
    "get_deployment_handle",
    "run",
    "status",
]


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


_POOL_LOCK = threading.Lock()
_POOL: Optional[concurrent.futures.ThreadPoolExecutor] = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads handle calls wait on (each waits with the GIL
    released, so calls run concurrently)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(
                max_workers=64, thread_name_prefix="weft-serve"
            )
        return _POOL


class DeploymentResponse:
    """A call in flight: ``result()`` waits for it, ``await`` too."""

    def __init__(self, future: "concurrent.futures.Future[Any]") -> None:
        self._future = future

    def result(self, timeout_s: Optional[float] = None) -> Any:
        """The deployment's answer; ``GetTimeoutError`` after ``timeout_s``
        seconds, the deployment's failure as ``TaskError`` (a trap) or
        ``WeftError`` (an overloaded or unknown deployment)."""
        try:
            return self._future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            from ._errors import GetTimeoutError

            raise GetTimeoutError(
                f"the deployment did not answer within {timeout_s} s"
            ) from None

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self._future).__await__()


class DeploymentResponseGenerator:
    """The values a streaming deployment sends, as they come: iterate it,
    or ``async for`` over it."""

    def __init__(self, native: "_native.ServeStream") -> None:
        self._native = native

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        text = self._native.next()
        if text is None:
            raise StopIteration
        return json.loads(text)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        text = await asyncio.get_running_loop().run_in_executor(_pool(), self._native.next)
        if text is None:
            raise StopAsyncIteration
        return json.loads(text)


class _Handle:
    """What both kinds of handle hold: the deployment's names and the
    native handle."""

    def __init__(
        self, app_name: str, deployment_name: str, native: "_native.DeploymentHandle"
    ) -> None:
        self.app_name = app_name
        self.deployment_name = deployment_name
        self._native = native

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.app_name}/{self.deployment_name})"


class DeploymentHandle(_Handle):
    """A Serve deployment, callable from this driver."""

    @overload
    def options(self, *, stream: Literal[False] = False) -> "DeploymentHandle": ...

    @overload
    def options(self, *, stream: Literal[True]) -> "StreamingDeploymentHandle": ...

    def options(
        self, *, stream: bool = False
    ) -> Union["DeploymentHandle", "StreamingDeploymentHandle"]:
        """The same deployment; with ``stream=True`` (for one declared with
        ``stream: true``) its calls give the values it sends as they come,
        as Ray's ``handle.options(stream=True)``."""
        if stream:
            return StreamingDeploymentHandle(self.app_name, self.deployment_name, self._native)
        return DeploymentHandle(self.app_name, self.deployment_name, self._native)

    def remote(self, *args: Any) -> DeploymentResponse:
        """Calls a function deployment with ``args`` (JSON values)."""
        text = json.dumps(list(args))
        future = _pool().submit(lambda: json.loads(self._native.call(text)))
        return DeploymentResponse(future)

    def request(
        self, path: str = "/", *, method: str = "GET", body: bytes = b""
    ) -> Tuple[int, bytes]:
        """Sends an HTTP request to a handler deployment at ``path``:
        ``(status, body)``, whatever the status."""
        status, data = self._native.request(method, path, body)
        return int(status), bytes(data)


def get_deployment_handle(
    deployment_name: str, app_name: str = "default"
) -> DeploymentHandle:
    """A handle to ``deployment_name`` of application ``app_name`` (Ray's
    argument order and default application name)."""
    native = _session().serve_handle(app_name, deployment_name)
    return DeploymentHandle(app_name, deployment_name, native)


class StreamingDeploymentHandle(_Handle):
    """A streaming deployment's handle (``options(stream=True)``)."""

    def remote(self, *args: Any) -> DeploymentResponseGenerator:
        """Calls it with ``args`` (JSON values): the values it sends."""
        return DeploymentResponseGenerator(self._native.stream(json.dumps(list(args))))
