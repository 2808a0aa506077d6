"""What the modules share: refs, errors, and calling a binding."""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable, Dict, Optional, TypeVar

T = TypeVar("T")

# The world's `weft:runtime` bindings, imported when the app is:
# componentize-py snapshots the app after its imports, and a module first
# imported later cannot load. A world leaves out what it does not import.
_BINDINGS: Dict[str, Any] = {}
for _name in ("actors", "log", "objects", "tasks", "types"):
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
        case = type(e.value).__name__.split("_", 1)[-1]
        kind = "".join("-" + c.lower() if c.isupper() else c for c in case).lstrip("-")
        raise WeftError(kind, str(getattr(e.value, "value", e.value))) from None


def millis(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else max(0, int(seconds * 1000))


def is_ref(value: Any) -> bool:
    return type(value).__name__ == "ObjectRef" and hasattr(value, "id")


def _wave_string(s: str) -> str:
    out = []
    for c in s:
        if c in "\"\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20:
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def to_wave(value: Any) -> str:
    """A Python value as WAVE text (for actor calls, which take WAVE): the
    host types it by the method's parameter. None is ``none``; any other
    value given for an ``option`` is its payload."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _wave_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "[" + ", ".join(str(b) for b in bytes(value)) + "]"
    if is_ref(value) or type(value).__name__ == "Actor":
        return "{id: " + _wave_string(value.id) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(to_wave(v) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(to_wave(v) for v in value) + "]"
    if isinstance(value, dict):
        fields = ", ".join(f"{str(k).replace('_', '-')}: {to_wave(v)}" for k, v in value.items())
        return "{" + fields + "}"
    raise TypeError(f"{type(value).__name__} has no WAVE form")
