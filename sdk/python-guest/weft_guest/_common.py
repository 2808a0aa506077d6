"""What the modules share: refs, errors, and calling a binding."""

from __future__ import annotations

import importlib
from typing import Any, Awaitable, Callable, Dict, Optional, TypeVar

T = TypeVar("T")

# The world's `weft:runtime` bindings, imported when the app is:
# componentize-py snapshots the app after its imports, and a module first
# imported later cannot load. A world leaves out what it does not import.
_BINDINGS: Dict[str, Any] = {}
for _name in ("actors", "awaits", "log", "objects", "tasks", "types"):
    try:
        _BINDINGS[_name] = importlib.import_module(f"wit_world.imports.{_name}")
    except ImportError:
        pass


def binding(interface: str) -> Any:
    """The generated binding of ``weft:runtime/<interface>``."""
    found = _BINDINGS.get(interface)
    if found is None:
        raise RuntimeError(
            f"this component's world does not import weft:runtime/{interface}@0.1.0: "
            f"add `import weft:runtime/{interface}@0.1.0;` to it"
        )
    return found


class WeftError(Exception):
    """A ``weft:runtime`` call failed. ``kind`` is the error's case:
    ``unsupported``, ``not-found``, ``invalid-argument``, ``timeout``,
    ``trapped``, ``resource-exhausted`` or ``other``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def ObjectRef(id: str) -> Any:  # noqa: N802 - it stands for the WIT record
    """A ref by id (the bindings' ``object-ref`` record)."""
    return binding("types").ObjectRef(id=id)


def call(f: Callable[..., T], *args: Any) -> T:
    """Calls a binding, raising its WIT ``error`` as ``WeftError``."""
    from componentize_py_types import Err  # loaded with the bindings

    try:
        return f(*args)
    except Err as e:
        raise weft_error(e) from None


async def call_async(f: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Awaits an async binding (an ``async func``), raising its WIT
    ``error`` as ``WeftError``."""
    from componentize_py_types import Err  # loaded with the bindings

    try:
        return await f(*args)
    except Err as e:
        raise weft_error(e) from None


def weft_error(e: Any) -> WeftError:
    """A binding's ``Err`` of the WIT ``error`` variant as ``WeftError``."""
    case = type(e.value).__name__.split("_", 1)[-1]
    kind = "".join("-" + c.lower() if c.isupper() else c for c in case).lstrip("-")
    return WeftError(kind, str(getattr(e.value, "value", e.value)))


def millis(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else max(0, int(seconds * 1000))


def is_ref(value: Any) -> bool:
    return type(value).__name__ == "ObjectRef" and hasattr(value, "id")
