"""The public API: connecting, components and tasks, objects, actors, state.

Everything here is a thin layer over ``_native.Session`` (the Rust client):
it names things the Python way and turns results into Python values.
"""

from __future__ import annotations

import asyncio
import atexit
import mmap
import os
import threading
from dataclasses import dataclass
from typing import (
    Any,
    Dict,
    Generator,
    Iterable,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
    overload,
)

from . import _native
from ._errors import GuestError, WeftError
from ._local import LocalCluster

# --- values -----------------------------------------------------------------


class _Refs:
    """Counts live ``ObjectRef``s per id, so the cluster is told to let go of
    an object once the last Python ref to it is gone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Dict[str, int] = {}

    def add(self, id: str) -> None:
        with self.lock:
            self.counts[id] = self.counts.get(id, 0) + 1

    def drop(self, id: str) -> bool:
        with self.lock:
            left = self.counts.get(id, 0) - 1
            if left > 0:
                self.counts[id] = left
                return False
            self.counts.pop(id, None)
            return True


_refs = _Refs()
# The refs whose values are being converted on this thread (see ObjectRef).
_reading = threading.local()


class ObjectRef:
    """A ref to a task's result or a put object. ``weft.get(ref)`` reads it;
    ``await ref`` works in asyncio; passing it to a task passes the ref
    (the task waits for it, and gets the value or, for an ``object-ref``
    parameter, the ref itself)."""

    __slots__ = ("id", "_session", "_container", "__weakref__")

    def __init__(self, id: str) -> None:
        self.id = id
        self._session = _state.session
        # A ref found inside another object's value lives as long as that
        # object does (the cluster keeps what a value contains): holding
        # the container's ref keeps the contained object readable.
        self._container = getattr(_reading, "refs", None)
        _refs.add(id)

    def __del__(self) -> None:
        try:
            if _refs.drop(self.id) and self._session is not None and self._session is _state.session:
                self._session.release([self.id])
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"ObjectRef({self.id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        return (ObjectRef, (self.id,))

    def __await__(self) -> Generator[Any, None, Any]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(None, get, self).__await__()

    def future(self) -> "asyncio.Future[Any]":
        """The value as an asyncio future on the running loop."""
        return asyncio.get_running_loop().run_in_executor(None, get, self)


@dataclass(frozen=True)
class Variant:
    """A WIT variant value: its case and the case's value (None for a case
    without one). Arguments also accept ``{"case": value}`` and, for a case
    without a value, the case's name."""

    case: str
    value: Any = None


# --- connecting -------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.session: Optional[_native.Session] = None
        self.local: Optional[LocalCluster] = None
        self.lock = threading.Lock()


_state = _State()


def init(
    address: Optional[str] = None,
    *,
    num_cpus: Optional[float] = None,
    ignore_reinit_error: bool = False,
) -> str:
    """Connects to the cluster at ``address``, else ``$WEFT_ADDRESS``, else
    starts a local single-node cluster that stops when the interpreter
    exits (or on ``weft.shutdown()``). Returns the address."""
    with _state.lock:
        if _state.session is not None:
            if ignore_reinit_error:
                return _state.session.address
            raise RuntimeError(
                "weft.init() was already called: call weft.shutdown() first, "
                "or pass ignore_reinit_error=True"
            )
        address = address or os.environ.get("WEFT_ADDRESS") or None
        local = None
        if address is None or address == "local":
            local = LocalCluster(cpus=num_cpus)
            address = local.address
        try:
            session = _native.Session(address)
        except BaseException:
            if local is not None:
                local.stop()
            raise
        _state.session, _state.local = session, local
        return address


def is_initialized() -> bool:
    """Whether ``weft.init()`` has connected."""
    return _state.session is not None


def shutdown() -> None:
    """Disconnects, and stops the local cluster if ``init`` started one."""
    with _state.lock:
        _state.session = None
        local, _state.local = _state.local, None
    if local is not None:
        local.stop()


atexit.register(shutdown)


def _session() -> _native.Session:
    session = _state.session
    if session is None:
        raise WeftError("weft is not initialized: call weft.init() first")
    return session


# --- components and tasks ---------------------------------------------------


def _snake(name: str) -> str:
    return name.replace("-", "_")


def _options(
    num_cpus: Optional[float] = None,
    num_gpus: Optional[int] = None,
    memory: Optional[int] = None,
    resources: Optional[Dict[str, float]] = None,
    max_retries: Optional[int] = None,
    retry_exceptions: Optional[bool] = None,
    scheduling_strategy: Any = None,
    timeout: Optional[float] = None,
    memory_limit: Optional[int] = None,
    max_calls: Optional[int] = None,
    num_returns: Any = None,
    _generator_backpressure_num_objects: Optional[int] = None,
    placement_group: Any = None,
    placement_group_bundle_index: int = -1,
    placement_group_capture_child_tasks: bool = False,
    runtime_env: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    out: Dict[str, Any] = _in_group(
        scheduling_strategy,
        placement_group,
        placement_group_bundle_index,
        placement_group_capture_child_tasks,
    )
    if out:
        scheduling_strategy = None
    out.update(_runtime_env(runtime_env))
    if num_returns is not None:
        if num_returns == "streaming":
            out["streaming"] = True
        elif num_returns != 1:
            raise ValueError(
                f"num_returns={num_returns!r} is not supported: a task returns one value "
                "(return a tuple for several), or use num_returns=\"streaming\" for a "
                "generator whose guest emits items as it goes"
            )
    if _generator_backpressure_num_objects is not None:
        if int(_generator_backpressure_num_objects) < 0:
            raise ValueError("_generator_backpressure_num_objects must be 0 or more")
        out["stream_backpressure"] = int(_generator_backpressure_num_objects)
    if max_calls is not None:
        if int(max_calls) < 0:
            raise ValueError(f"max_calls must be 0 or more, not {max_calls}")
        out["max_calls"] = int(max_calls)
    if num_cpus is not None:
        out["cpus"] = float(num_cpus)
    if num_gpus is not None:
        out["gpus"] = int(num_gpus)
    if memory is not None:
        out["memory"] = int(memory)
    if memory_limit is not None:
        out["memory_limit"] = int(memory_limit)
    if resources:
        out["custom"] = {str(k): float(v) for k, v in resources.items()}
    if max_retries is not None:
        out["max_retries"] = int(max_retries)
    if retry_exceptions is not None:
        out["retry_on_trap"] = bool(retry_exceptions)
    if timeout is not None:
        out["timeout_ms"] = int(timeout * 1000)
    if scheduling_strategy is not None:
        if isinstance(scheduling_strategy, NodeAffinitySchedulingStrategy):
            out["affinity_host"] = scheduling_strategy.node_id
            out["affinity_soft"] = scheduling_strategy.soft
        elif str(scheduling_strategy).upper() in ("DEFAULT", "SPREAD"):
            out["strategy"] = str(scheduling_strategy).lower()
        else:
            raise ValueError(
                f"unknown scheduling_strategy {scheduling_strategy!r}: use "
                "'DEFAULT', 'SPREAD' or NodeAffinitySchedulingStrategy(node_id, soft)"
            )
    return out


class ObjectRefGenerator:
    """The items of a streaming task (``num_returns="streaming"``), as Ray's:
    iterate it (``for ref in gen``, or ``async for`` in asyncio) for the ref
    of each item, in order, as the guest emits it; the loop ends with the
    task, or raises its failure after the items it emitted. Dropped before
    its end, it lets go of the unread items and cancels the task."""

    def __init__(self, task: ObjectRef, stream: "_native.ItemStream") -> None:
        self._task = task
        self._stream = stream

    @property
    def task_ref(self) -> ObjectRef:
        """The task's own ref: it resolves to the task's result once the
        stream has ended."""
        return self._task

    def next(self, timeout: Optional[float] = None) -> ObjectRef:
        """The next item's ref, waiting at most ``timeout`` seconds;
        ``StopIteration`` at the end."""
        id = self._stream.next(timeout)
        if id is None:
            raise StopIteration
        return ObjectRef(id)

    def __iter__(self) -> "ObjectRefGenerator":
        return self

    def __next__(self) -> ObjectRef:
        return self.next()

    def __aiter__(self) -> "ObjectRefGenerator":
        return self

    async def __anext__(self) -> ObjectRef:
        id = await asyncio.get_running_loop().run_in_executor(None, self._stream.next, None)
        if id is None:
            raise StopAsyncIteration
        return ObjectRef(id)

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._task.id})"


@dataclass(frozen=True)
class NodeAffinitySchedulingStrategy:
    """Run on the host ``node_id``; ``soft`` falls back to any host."""

    node_id: str
    soft: bool = False


@dataclass(frozen=True)
class PlacementGroupSchedulingStrategy:
    """Run in ``placement_group``, from bundle ``placement_group_bundle_index``
    (-1: any bundle with room); with ``placement_group_capture_child_tasks``
    the tasks and actors it makes go into the group too."""

    placement_group: Any
    placement_group_bundle_index: int = -1
    placement_group_capture_child_tasks: bool = False


_RUNTIME_ENV_KEYS = ("env_vars", "config", "secrets", "dirs")


def _runtime_env(runtime_env: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The options of Ray's ``runtime_env`` that weft has: ``env_vars``
    (variables), ``config`` (what guests read through ``wasi:config/store``),
    ``secrets`` (names of the cluster's secrets, read the same way) and
    ``dirs`` (names of directories hosts offer). Other keys are refused by
    name: weft runs components, so there is nothing to pip-install."""
    if not runtime_env:
        return {}
    unknown = sorted(set(runtime_env) - set(_RUNTIME_ENV_KEYS))
    if unknown:
        raise ValueError(
            f"runtime_env keys {unknown} are not supported: weft runs components, so "
            f"{', '.join(_RUNTIME_ENV_KEYS)} apply"
        )
    out: Dict[str, Any] = {}
    if runtime_env.get("env_vars"):
        out["env"] = {str(k): str(v) for k, v in runtime_env["env_vars"].items()}
    if runtime_env.get("config"):
        out["config"] = {str(k): str(v) for k, v in runtime_env["config"].items()}
    for key in ("secrets", "dirs"):
        names = runtime_env.get(key)
        if names:
            if isinstance(names, str):
                raise TypeError(f"runtime_env {key!r} is a list of names, not {names!r}")
            out[key] = [str(n) for n in names]
    return out


def _in_group(strategy: Any, group: Any, index: int, capture: bool) -> Dict[str, Any]:
    """The options that put work into a placement group, from a
    ``PlacementGroupSchedulingStrategy`` or Ray's older ``placement_group=``
    keywords (a group handle, or its id)."""
    if isinstance(strategy, PlacementGroupSchedulingStrategy):
        group = strategy.placement_group
        index = strategy.placement_group_bundle_index
        capture = strategy.placement_group_capture_child_tasks
    if group is None or group == "default":
        return {}
    out: Dict[str, Any] = {"placement_group": str(getattr(group, "id", group))}
    if int(index) >= 0:
        out["bundle_index"] = int(index)
    if capture:
        out["capture_child_tasks"] = True
    return out


class RemoteFunction:
    """One exported function: ``f.remote(*args)`` submits it as a task."""

    def __init__(self, component: str, function: str, options: Optional[Dict[str, Any]] = None):
        self._component = component
        self._function = function
        self._options = options or {}

    def remote(self, *args: Any) -> Any:
        """Submits a task; returns the ref to its result (an
        ``ObjectRefGenerator`` of its items for ``num_returns="streaming"``)."""
        session = _session()
        id = session.submit(self._component, self._function, list(args), self._options or None)
        if self._options.get("streaming"):
            backpressure = self._options.get("stream_backpressure", 0) > 0
            return ObjectRefGenerator(ObjectRef(id), session.stream(id, backpressure))
        return ObjectRef(id)

    def options(self, **options: Any) -> "RemoteFunction":
        """The same function with task options: ``num_cpus``, ``num_gpus``,
        ``memory``, ``resources``, ``max_retries``, ``retry_exceptions``,
        ``scheduling_strategy``, ``timeout`` (seconds), ``memory_limit``,
        ``max_calls`` (tasks one instance may run for this owner, as in Ray:
        above 1, a task may find the globals an earlier one left),
        ``num_returns="streaming"`` (a generator: the guest emits items as it
        goes) with ``_generator_backpressure_num_objects`` (its producer
        waits while that many items are unread)."""
        merged = dict(self._options)
        merged.update(_options(**options))
        return RemoteFunction(self._component, self._function, merged)

    def __repr__(self) -> str:
        return f"RemoteFunction({self._component}.{self._function})"

    def __getattr__(self, attr: str) -> "RemoteFunction":
        # Typed so that `component.api.f` checks whether `api` is a
        # function or an interface (an _Interface answers).
        raise AttributeError(f"function `{self._function}` of `{self._component}` has no `{attr}`")


class _Interface(RemoteFunction):
    """An exported interface: its functions are attributes."""

    def __init__(self, component: str, name: str, functions: Dict[str, str]) -> None:
        super().__init__(component, name)
        self._name = name
        self._functions = functions

    def remote(self, *args: Any) -> ObjectRef:
        raise TypeError(
            f"`{self._name}` of `{self._component}` is an interface: call one of its "
            f"functions ({', '.join(sorted(self._functions))})"
        )

    def __getattr__(self, attr: str) -> RemoteFunction:
        if attr.startswith("_"):
            raise AttributeError(attr)
        wit = self._functions.get(attr) or self._functions.get(_snake(attr))
        if wit is None:
            raise AttributeError(
                f"interface `{self._name}` of `{self._component}` has no function `{attr}` "
                f"(it has: {', '.join(sorted(self._functions)) or 'none'})"
            )
        return RemoteFunction(self._component, f"{self._name}.{wit}")

    def __dir__(self) -> List[str]:
        return sorted(self._functions)


class Component:
    """A deployed component. Its functions are attributes
    (``c.estimate``, ``c.api.sum_of_squares``) or items by WIT name
    (``c["api.sum-of-squares"]``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._top: Optional[Dict[str, str]] = None
        self._interfaces: Dict[str, Tuple[str, Dict[str, str]]] = {}

    def _load(self) -> None:
        if self._top is not None:
            return
        top: Dict[str, str] = {}
        interfaces: Dict[str, Tuple[str, Dict[str, str]]] = {}
        for interface, function, _params, _result in _session().exports(self.name):
            if function.startswith("["):
                continue  # a resource's constructor or method: see actor_class
            if interface is None:
                top[_snake(function)] = function
            else:
                short = interface.split("/")[-1].split("@")[0]
                interfaces.setdefault(_snake(short), (short, {}))[1][_snake(function)] = function
        self._interfaces = interfaces
        self._top = top

    def __getattr__(self, attr: str) -> RemoteFunction:
        if attr.startswith("_"):
            raise AttributeError(attr)
        self._load()
        assert self._top is not None
        if attr in self._top:
            return RemoteFunction(self.name, self._top[attr])
        if attr in self._interfaces:
            short, functions = self._interfaces[attr]
            return _Interface(self.name, short, functions)
        raise AttributeError(
            f"component `{self.name}` has no function or interface `{attr}` "
            f"(it has: {', '.join(sorted(list(self._top) + list(self._interfaces))) or 'none'})"
        )

    def __getitem__(self, wit_name: str) -> RemoteFunction:
        return RemoteFunction(self.name, wit_name)

    def __dir__(self) -> List[str]:
        self._load()
        assert self._top is not None
        return sorted(list(self._top) + list(self._interfaces))

    def __repr__(self) -> str:
        return f"Component({self.name!r})"


def deploy(
    path: Union[str, "os.PathLike[str]", bytes],
    name: Optional[str] = None,
    prepare: bool = True,
    runtime_env: Optional[Dict[str, Any]] = None,
) -> Component:
    """Uploads a component (a path, or its bytes); returns a handle on it by
    ``name`` if given, else by digest. With ``prepare`` (the default) it
    returns once every host has compiled it (or loaded it from the artifact
    cache), so no first call pays for a compile; a host that cannot raises
    ``WeftError`` naming it. ``runtime_env`` (as for tasks) is the
    component's default: each part a task, actor or job of it leaves empty
    comes from it."""
    defaults = _runtime_env(runtime_env)
    wasm = path if isinstance(path, bytes) else open(path, "rb").read()
    digest, _functions = _session().deploy(wasm, name, prepare)
    if defaults:
        _session().set_runtime_env(
            digest,
            defaults.get("env", {}),
            defaults.get("config", {}),
            defaults.get("secrets", []),
            defaults.get("dirs", []),
        )
    return Component(name or digest)


def component(name: str) -> Component:
    """A handle on a deployed component, by name or digest."""
    return Component(name)


# --- getting results --------------------------------------------------------


class _PinnedMap(mmap.mmap):
    """A read-only mapping of one object's pages in its host's arena; it
    holds the object's pin, so the pages keep their bytes while any view of
    this mapping lives."""

    pin: Any


def _mapped(path: str, offset: int, length: int, start: int, end: int, pin: Any) -> memoryview:
    with open(path, "rb") as f:
        mapping = _PinnedMap(f.fileno(), length, access=mmap.ACCESS_READ, offset=offset)
    mapping.pin = pin
    return memoryview(mapping)[start:end]


def _unpack(item: Tuple[int, Any]) -> Any:
    kind, payload = item
    if kind == 0:
        return payload
    if kind == 1:
        return _mapped(*payload)
    raise GuestError(payload)


class _Awaitable(Protocol):
    """Something ``get`` waits on that is not a task's ref: a placement
    group's ``ready()``."""

    def _get(self, timeout: Optional[float]) -> Any: ...


@overload
def get(refs: _Awaitable, *, timeout: Optional[float] = None) -> Any: ...
@overload
def get(refs: ObjectRef, *, timeout: Optional[float] = None) -> Any: ...
@overload
def get(refs: Sequence[ObjectRef], *, timeout: Optional[float] = None) -> List[Any]: ...


def get(
    refs: Union[_Awaitable, ObjectRef, Sequence[ObjectRef]], *, timeout: Optional[float] = None
) -> Any:
    """The value of a ref, or of each ref in a list, waiting up to
    ``timeout`` seconds (``GetTimeoutError`` past it). Bytes stored on this
    machine come back as a read-only ``memoryview`` over shared memory (no
    copy); a failed task raises ``TaskError`` (or a subclass), and a
    function that returned ``err`` raises ``GuestError``."""
    if not isinstance(refs, (ObjectRef, list, tuple)) and hasattr(refs, "_get"):
        # A placement group's ready(): waits until it is created.
        return refs._get(timeout)
    single = isinstance(refs, ObjectRef)
    held = (refs,) if isinstance(refs, ObjectRef) else tuple(refs)
    ids = [_ref_id(r) for r in held]
    _reading.refs = held
    try:
        items = _session().get(ids, timeout)
    finally:
        _reading.refs = None
    values = [_unpack(item) for item in items]
    return values[0] if single else values


def _ref_id(ref: Any) -> str:
    if not isinstance(ref, ObjectRef):
        raise TypeError(f"expected an ObjectRef, got {type(ref).__name__}")
    return ref.id


def wait(
    refs: Sequence[ObjectRef],
    *,
    num_returns: int = 1,
    timeout: Optional[float] = None,
    fetch_local: bool = True,
) -> Tuple[List[ObjectRef], List[ObjectRef]]:
    """Waits until ``num_returns`` of ``refs`` are done or ``timeout``
    passes; returns ``(ready, not_ready)`` in the order of ``refs``."""
    del fetch_local  # results are fetched by get, where they are read
    refs = list(refs)
    if num_returns < 0 or num_returns > len(refs):
        raise ValueError(f"num_returns {num_returns} is not between 0 and {len(refs)}")
    by_id: Dict[str, ObjectRef] = {}
    for r in refs:
        by_id.setdefault(_ref_id(r), r)
    ready, _pending = _session().wait([r.id for r in refs], num_returns, timeout)
    ready_set = set(ready)
    return [r for r in refs if r.id in ready_set], [r for r in refs if r.id not in ready_set]


def cancel(ref: ObjectRef) -> bool:
    """Cancels the task behind ``ref``; False when it had already finished."""
    return _session().cancel(_ref_id(ref))


def put(value: Any) -> ObjectRef:
    """Stores bytes (bytes, bytearray, memoryview, or any buffer such as a
    NumPy array) in the object store; returns its ref."""
    return ObjectRef(_session().put(value))


# --- actors -----------------------------------------------------------------


class ActorMethod:
    """``handle.method.remote(*args)`` calls it; calls run in order.
    ``handle.method.options(num_returns="streaming").remote(*args)`` calls it
    as a stream: an ``ObjectRefGenerator`` of the items it emits."""

    def __init__(self, handle: "ActorHandle", method: str, streaming: bool = False) -> None:
        self._handle = handle
        self._method = method
        self._streaming = streaming

    def options(self, *, num_returns: Any = 1) -> "ActorMethod":
        """The same method, called as a stream with ``num_returns="streaming"``."""
        if num_returns not in (1, "streaming"):
            raise ValueError(
                f"num_returns={num_returns!r} is not supported: a method returns one value, "
                "or use num_returns=\"streaming\" for the items it emits"
            )
        return ActorMethod(self._handle, self._method, num_returns == "streaming")

    def __getattr__(self, attr: str) -> "ActorMethod":
        # `actor.iface.func`: a function of an exported interface of an
        # instance actor.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return ActorMethod(self._handle, f"{self._method}.{attr.replace('_', '-')}", self._streaming)

    def remote(self, *args: Any) -> Any:
        component, cls = self._handle._spec()
        session = _session()
        if self._streaming:
            stream = session.call_actor_stream(self._handle.id, component, cls, self._method, list(args))
            return ObjectRefGenerator(ObjectRef(stream.task_id()), stream)
        id = session.call_actor(self._handle.id, component, cls, self._method, list(args))
        return ObjectRef(id)


class ActorHandle:
    """A handle on an actor: its methods are attributes. Handles pass to
    tasks and other actors (as WIT ``actor`` values)."""

    def __init__(self, id: str, component: Optional[str] = None, cls: Optional[str] = None) -> None:
        self.id = id
        self._component = component
        self._cls = cls

    def _spec(self) -> Tuple[str, str]:
        if self._component is None or self._cls is None:
            self._component, self._cls = _session().actor_spec(self.id)
        return self._component, self._cls

    def __getattr__(self, method: str) -> ActorMethod:
        if method.startswith("_"):
            raise AttributeError(method)
        return ActorMethod(self, method.replace("_", "-"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        return (ActorHandle, (self.id,))

    def __repr__(self) -> str:
        return f"ActorHandle({self.id})"


class ActorClass:
    """An actor class: a WIT resource of a component (``-`` for an instance
    actor, whose methods are the component's functions)."""

    def __init__(self, component: str, cls: str, options: Optional[Dict[str, Any]] = None) -> None:
        self._component = component
        self._cls = "" if cls == "-" else cls
        self._options = options or {}

    def options(
        self,
        *,
        name: Optional[str] = None,
        namespace: Optional[str] = None,
        lifetime: Optional[str] = None,
        max_restarts: Optional[int] = None,
        max_task_retries: Optional[int] = None,
        num_cpus: Optional[float] = None,
        num_gpus: Optional[int] = None,
        memory_limit: Optional[int] = None,
        call_timeout: Optional[float] = None,
        max_concurrency: Optional[int] = None,
        concurrency_groups: Optional[Dict[str, int]] = None,
        method_groups: Optional[Dict[str, str]] = None,
        scheduling_strategy: Any = None,
        placement_group: Any = None,
        placement_group_bundle_index: int = -1,
        placement_group_capture_child_tasks: bool = False,
        runtime_env: Optional[Dict[str, Any]] = None,
    ) -> "ActorClass":
        """The same class with actor options (Ray's names). ``max_concurrency``
        above 1 (or ``concurrency_groups``, name to limit, with
        ``method_groups``, method to group) runs calls at once in the actor's
        one instance: it runs its ``async func`` methods (``async def`` in
        Python guests), interleaved where they await, and refuses the others."""
        merged = dict(self._options)
        given = {
            "name": name,
            "namespace": namespace,
            "max_restarts": max_restarts,
            "max_task_retries": max_task_retries,
            "cpus": None if num_cpus is None else float(num_cpus),
            "gpus": num_gpus,
            "memory_limit": memory_limit,
            "call_timeout_ms": None if call_timeout is None else int(call_timeout * 1000),
            "max_concurrency": max_concurrency,
            "concurrency_groups": concurrency_groups,
            "method_groups": None if method_groups is None else {k.replace("_", "-"): v for k, v in method_groups.items()},
        }
        merged.update({k: v for k, v in given.items() if v is not None})
        if scheduling_strategy is not None and not isinstance(
            scheduling_strategy, PlacementGroupSchedulingStrategy
        ):
            raise ValueError(
                f"an actor's scheduling_strategy is a PlacementGroupSchedulingStrategy, not "
                f"{scheduling_strategy!r}"
            )
        merged.update(
            _in_group(
                scheduling_strategy,
                placement_group,
                placement_group_bundle_index,
                placement_group_capture_child_tasks,
            )
        )
        merged.update(_runtime_env(runtime_env))
        if lifetime is not None:
            if lifetime not in ("detached", "non_detached"):
                raise ValueError(f"lifetime must be 'detached' or 'non_detached', not {lifetime!r}")
            merged["detached"] = lifetime == "detached"
        return ActorClass(self._component, self._cls or "-", merged)

    def remote(self, *args: Any) -> ActorHandle:
        """Creates the actor (its constructor gets ``args``) and returns a
        handle once it is alive."""
        id = _session().create_actor(self._component, self._cls, list(args), self._options or None)
        return ActorHandle(id, self._component, self._cls)


def actor_class(component: str, cls: str) -> ActorClass:
    """The actor class ``cls`` (a WIT resource) of ``component``."""
    return ActorClass(component, cls)


def get_actor(name: str, namespace: str = "") -> ActorHandle:
    """The live actor named ``name``."""
    return ActorHandle(_session().get_actor(name, namespace))


def kill(actor: ActorHandle) -> bool:
    """Kills an actor; False when it was already dead."""
    return _session().kill_actor(actor.id)


# --- state ------------------------------------------------------------------


def nodes() -> List[Dict[str, Any]]:
    """The cluster's hosts: ``id``, ``address``, ``alive``, ``resources``,
    ``used``, ``running``, and ``engine`` (components ``compiled`` and
    ``loaded_from_disk``, ``calls``, ``warm_starts``: counters as of the
    host's last heartbeat)."""
    return _session().nodes()


def tasks(state: Optional[str] = None) -> List[Dict[str, Any]]:
    """Tasks the cluster knows (``state``: pending, running, finished, failed)."""
    return _session().tasks(state)


def logs(ref: Union[ObjectRef, str], tail: int = 0) -> List[str]:
    """What a task's guest wrote to stdout and stderr, one string per line,
    oldest first: the last ``tail`` lines, or all its host keeps when 0.
    Read from the host that ran the task; a host that has left the
    cluster raises ``WeftError`` naming it. A route's path (``"/hello/..."``)
    gives what its HTTP handlers wrote on every live host, merged by time."""
    return _session().logs(ref if isinstance(ref, str) else _ref_id(ref), tail)


def memory(largest: int = 10) -> List[Dict[str, Any]]:
    """Each live host's object store: bytes used of its capacity, the
    largest free extent, objects pinned by readers on its machine
    (``client_pins``), objects, spills, and its ``largest`` objects as
    ``(id, size, state)``, the state ``primary``, ``spilled`` or
    ``secondary`` (like ``ray memory``)."""
    return _session().memory(largest)


def objects(limit: int = 100) -> List[Dict[str, Any]]:
    """The cluster's objects, newest first (like ``ray list objects``):
    ``id``, ``kind`` (``result``, ``put`` or ``item``), ``owner``, ``size``,
    ``held_by`` (empty: inline in the leader), ``refs``, and ``copies`` as
    ``(host, state, pins)``, the state ``primary``, ``spilled`` or
    ``secondary``."""
    return _session().objects(limit)


def actors() -> List[Dict[str, Any]]:
    """The cluster's actors."""
    return _session().actors()


def cluster_resources() -> Dict[str, float]:
    """Resources of the live hosts, summed."""
    return _sum(n["resources"] for n in nodes() if n["alive"])


def available_resources() -> Dict[str, float]:
    """Resources of the live hosts not held by running work."""
    total: Dict[str, float] = {}
    for n in nodes():
        if n["alive"]:
            for k, v in n["resources"].items():
                total[k] = total.get(k, 0) + v - n["used"].get(k, 0)
    return total


def _sum(resources: Iterable[Dict[str, float]]) -> Dict[str, float]:
    total: Dict[str, float] = {}
    for r in resources:
        for k, v in r.items():
            total[k] = total.get(k, 0) + v
    return total


class _Kv:
    """The cluster's replicated key-value table (``weft kv``)."""

    def get(self, key: str, *, namespace: str = "default") -> Optional[bytes]:
        return _session().kv_get(namespace, key)

    def put(self, key: str, value: Union[bytes, str], *, namespace: str = "default") -> None:
        data = value.encode() if isinstance(value, str) else bytes(value)
        _session().kv_put(namespace, key, data)

    def list(self, prefix: str = "", *, namespace: str = "default") -> List[str]:
        return _session().kv_list(namespace, prefix)

    def delete(self, key: str, *, namespace: str = "default") -> bool:
        return _session().kv_delete(namespace, key)


kv = _Kv()

_native.register_classes(ObjectRef, ActorHandle, Variant)
