"""weft from Python: tasks, actors and objects on a weft cluster, the way
Ray's API drives Ray.

    import weft
    weft.init()                              # a local cluster, or WEFT_ADDRESS
    pi = weft.deploy("pi.wasm", name="pi")
    refs = [pi.estimate.remote(1_000_000, seed) for seed in range(8)]
    print(sum(weft.get(refs)) / 8)

Values convert by the function's WIT signature (see README.md); the
protocol is the Rust client's, through the ``_native`` module.
"""

from __future__ import annotations

from ._api import (
    ActorClass,
    ActorHandle,
    Component,
    NodeAffinitySchedulingStrategy,
    ObjectRef,
    PlacementGroupSchedulingStrategy,
    ObjectRefGenerator,
    RemoteFunction,
    Variant,
    actor_class,
    actors,
    available_resources,
    cancel,
    cluster_resources,
    component,
    deploy,
    get,
    get_actor,
    init,
    is_initialized,
    kill,
    kv,
    logs,
    memory,
    objects,
    nodes,
    put,
    shutdown,
    tasks,
    wait,
)
from . import serve, tune, util
from ._jobs import job, list_jobs, stop_job, submit_job, wait_job
from ._errors import (
    ActorDiedError,
    GetTimeoutError,
    GuestError,
    ObjectLostError,
    TaskCancelledError,
    TaskError,
    WeftConnectionError,
    WeftError,
)

__all__ = [
    "ActorClass",
    "ActorDiedError",
    "ActorHandle",
    "Component",
    "GetTimeoutError",
    "GuestError",
    "NodeAffinitySchedulingStrategy",
    "ObjectLostError",
    "ObjectRef",
    "ObjectRefGenerator",
    "PlacementGroupSchedulingStrategy",
    "RemoteFunction",
    "TaskCancelledError",
    "TaskError",
    "Variant",
    "WeftConnectionError",
    "WeftError",
    "actor_class",
    "actors",
    "available_resources",
    "cancel",
    "cluster_resources",
    "component",
    "deploy",
    "get",
    "get_actor",
    "init",
    "is_initialized",
    "job",
    "kill",
    "kv",
    "list_jobs",
    "logs",
    "memory",
    "objects",
    "nodes",
    "put",
    "serve",
    "shutdown",
    "stop_job",
    "submit_job",
    "tasks",
    "wait",
    "wait_job",
]
