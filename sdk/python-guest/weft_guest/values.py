"""weft's binary encoding of component values (docs/VALUES.md), in plain
Python: what tasks and actor calls carry.

``encode`` writes a Python value as it is: ``int`` as ``s64`` (``u64`` past
its range), ``float`` as ``f64``, ``str`` as ``string``, ``bytes`` as
``list<u8>``, ``list`` as a list, ``tuple`` as a tuple, ``dict`` as a record
(``snake_case`` keys as ``kebab-case`` fields), ``None`` as an absent
option, refs and actor handles as themselves. The host that runs the
callee conforms each to the parameter's type: an integer to the width it
has, a dict of one key to a variant's case, a string to an enum.

``decode`` reads a value back in weft's JSON mapping: records as dicts,
variants as ``{"case": payload}`` (``"case"`` without one), enums as
strings, options as the value or ``None``, results as ``{"ok": ...}`` or
``{"err": ...}``, refs as ``{"id": ...}``.
"""

from __future__ import annotations

import math
import struct
from typing import Any

VERSION = 1

_BOOL, _S8, _U8, _S16, _U16, _S32, _U32, _S64, _U64 = range(0x01, 0x0A)
_F32, _F64, _CHAR, _STRING, _BYTES, _LIST, _RECORD, _TUPLE = range(0x0A, 0x12)
_VARIANT, _ENUM, _OPTION, _RESULT, _FLAGS, _OBJECT_REF, _ACTOR = range(0x12, 0x19)

_FIXED = {
    _S8: "<b", _U8: "<B", _S16: "<h", _U16: "<H", _S32: "<i", _U32: "<I",
    _S64: "<q", _U64: "<Q", _F32: "<f", _F64: "<d",
}


def _uvarint(n: int, out: bytearray) -> None:
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _name(s: str, out: bytearray) -> None:
    data = s.encode("utf-8")
    _uvarint(len(data), out)
    out += data


def _is_handle(value: Any, kind: str) -> bool:
    return type(value).__name__ == kind and hasattr(value, "id")


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out += bytes((_OPTION, 0))
    elif isinstance(value, bool):
        out += bytes((_BOOL, int(value)))
    elif isinstance(value, int):
        if -(1 << 63) <= value < (1 << 63):
            out.append(_S64)
            out += struct.pack("<q", value)
        elif 0 <= value < (1 << 64):
            out.append(_U64)
            out += struct.pack("<Q", value)
        else:
            raise ValueError(f"{value} does not fit in 64 bits")
    elif isinstance(value, float):
        out.append(_F64)
        out += struct.pack("<d", value)
    elif isinstance(value, str):
        out.append(_STRING)
        _name(value, out)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out.append(_BYTES)
        _uvarint(len(data), out)
        out += data
    elif _is_handle(value, "ObjectRef"):
        out.append(_OBJECT_REF)
        _name(value.id, out)
    elif _is_handle(value, "Actor"):
        out.append(_ACTOR)
        _name(value.id, out)
    elif isinstance(value, tuple):
        out.append(_TUPLE)
        _uvarint(len(value), out)
        for item in value:
            _encode(item, out)
    elif isinstance(value, (list, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        out.append(_LIST)
        _uvarint(len(items), out)
        for item in items:
            _encode(item, out)
    elif isinstance(value, dict):
        out.append(_RECORD)
        _uvarint(len(value), out)
        for key, item in value.items():
            _name(str(key).replace("_", "-"), out)
            _encode(item, out)
    else:
        raise TypeError(f"a {type(value).__name__} has no component value form")


def encode(value: Any) -> bytes:
    """``value`` in the binary encoding (see the module docs)."""
    out = bytearray((VERSION,))
    _encode(value, out)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.at = 0

    def take(self, n: int) -> memoryview:
        if self.at + n > len(self.data):
            raise ValueError(f"truncated value: needed {n} byte(s) at offset {self.at}")
        piece = self.data[self.at : self.at + n]
        self.at += n
        return piece

    def byte(self) -> int:
        return self.take(1)[0]

    def uvarint(self) -> int:
        n, shift = 0, 0
        while True:
            b = self.byte()
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise ValueError("varint longer than 64 bits")

    def name(self) -> str:
        return str(self.take(self.uvarint()), "utf-8")

    def flag(self) -> bool:
        b = self.byte()
        if b > 1:
            raise ValueError(f"flag byte {b} at offset {self.at - 1}")
        return b == 1


def _float(f: float) -> Any:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


def _decode(r: _Reader, depth: int) -> Any:
    if depth > 128:
        raise ValueError("value nests deeper than 128 levels")
    tag = r.byte()
    if tag == _BOOL:
        return r.flag()
    if tag in _FIXED:
        fmt = _FIXED[tag]
        (v,) = struct.unpack(fmt, r.take(struct.calcsize(fmt)))
        return _float(v) if tag in (_F32, _F64) else v
    if tag == _CHAR:
        (c,) = struct.unpack("<I", r.take(4))
        return chr(c)
    if tag == _STRING:
        return r.name()
    if tag == _BYTES:
        return bytes(r.take(r.uvarint()))
    if tag in (_LIST, _TUPLE):
        return [_decode(r, depth + 1) for _ in range(r.uvarint())]
    if tag == _RECORD:
        fields = {}
        for _ in range(r.uvarint()):
            key = r.name()
            fields[key] = _decode(r, depth + 1)
        return fields
    if tag == _VARIANT:
        case = r.name()
        return {case: _decode(r, depth + 1)} if r.flag() else case
    if tag == _ENUM:
        return r.name()
    if tag == _OPTION:
        return _decode(r, depth + 1) if r.flag() else None
    if tag == _RESULT:
        side = "err" if r.flag() else "ok"
        return {side: _decode(r, depth + 1) if r.flag() else None}
    if tag == _FLAGS:
        return [r.name() for _ in range(r.uvarint())]
    if tag in (_OBJECT_REF, _ACTOR):
        return {"id": r.name()}
    raise ValueError(f"unknown value tag 0x{tag:02x} at offset {r.at - 1}")


def decode(data: bytes) -> Any:
    """An encoded value as Python (see the module docs)."""
    r = _Reader(data)
    version = r.byte()
    if version != VERSION:
        raise ValueError(f"value encoding version {version} is not supported (this reads {VERSION})")
    value = _decode(r, 0)
    if r.at != len(r.data):
        raise ValueError(f"{len(r.data) - r.at} trailing byte(s) after the value")
    return value

