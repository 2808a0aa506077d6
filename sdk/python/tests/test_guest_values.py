"""The Python guest SDK's codec (``weft_guest.values``) against the
examples of docs/VALUES.md, which the Rust encoder's tests share, and
against malformed input."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "sdk" / "python-guest"))

from weft_guest.values import decode, encode  # noqa: E402

# (value as Python, its encoding) from docs/VALUES.md's examples table.
DECODED = [
    ("01072a000000", 42),
    ("010d026869", "hi"),
    ("010e03010203", b"\x01\x02\x03"),
    ("0114011703612d31", {"id": "a-1"}),
    ("01100101780201", {"x": 1}),
]


@pytest.mark.parametrize("hex_value,expected", DECODED)
def test_the_documented_examples_decode(hex_value: str, expected: Any) -> None:
    assert decode(bytes.fromhex(hex_value)) == expected


def test_python_values_encode_as_themselves() -> None:
    assert encode("hi").hex() == "010d026869"
    assert encode(b"\x01\x02\x03").hex() == "010e03010203"
    assert encode(42).hex() == "01082a00000000000000"  # an int is an s64
    assert encode(None).hex() == "011400"
    assert encode({"long_name": True}).hex() == "011001096c6f6e672d6e616d650101"


@pytest.mark.parametrize(
    "value",
    [0, -1, 2**63 - 1, 2**64 - 1, 1.5, "naïve ☕", b"", [1, [2, "x"]], {"a": {"b": None}}, (1, "t", False)],
)
def test_values_round_trip(value: Any) -> None:
    back = decode(encode(value))
    assert back == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize(
    "hex_value,needle",
    [
        ("", "truncated"),
        ("02", "version 2"),
        ("0107", "truncated"),
        ("01ff", "unknown value tag 0xff"),
        ("01010000", "trailing byte"),
        ("010102", "flag byte 2"),
    ],
)
def test_malformed_input_is_refused_naming_the_problem(hex_value: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        decode(bytes.fromhex(hex_value))


def test_nesting_is_bounded() -> None:
    deep = bytes([1]) + bytes([0x14, 0x01]) * 200 + bytes([0x14, 0x00])
    with pytest.raises(ValueError, match="deeper than 128"):
        decode(deep)


def test_a_value_with_no_component_form_is_named() -> None:
    with pytest.raises(TypeError, match="a object has no component value form"):
        encode(object())
