"""Every WIT type of the test guest round-trips from Python, and a wrong
value is a TypeError naming the parameter, the place in it and its type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import weft


def echo(name: str, value: Any) -> Any:
    tk = weft.component("testkit")
    return weft.get(getattr(tk.values, f"echo_{name}").remote(value))


NUMBERS = {"a": 255, "b": 65535, "c": 2**32 - 1, "d": 2**64 - 1, "e": -128,
           "f": -32768, "g": -(2**31), "h": -(2**63), "i": 1.5, "j": -2.25}


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("bool", True, True),
        ("numbers", NUMBERS, NUMBERS),
        ("char", "λ", "λ"),
        ("string", "héllo", "héllo"),
        ("bytes", b"\x00\x01\xff", b"\x00\x01\xff"),
        ("bytes", bytearray(b"ab"), b"ab"),
        ("bytes", memoryview(b"cd"), b"cd"),
        ("strings", ["a", "b"], ["a", "b"]),
        ("strings", ("t", "u"), ["t", "u"]),
        ("point", {"x": 1, "y": -2, "label": "p"}, {"x": 1, "y": -2, "label": "p"}),
        ("shape", weft.Variant("circle", 2.0), weft.Variant("circle", 2.0)),
        ("shape", {"rect": {"x": 0, "y": 1, "label": ""}},
         weft.Variant("rect", {"x": 0, "y": 1, "label": ""})),
        ("shape", "empty", weft.Variant("empty")),
        ("color", "green", "green"),
        ("perms", {"read", "exec"}, {"read", "exec"}),
        ("perms", set(), set()),
        ("option", None, None),
        ("option", 7, 7),
        ("tuple", (1, "two", False), (1, "two", False)),
        ("nested", [None, {"x": 3, "y": 4, "label": "q"}], [None, {"x": 3, "y": 4, "label": "q"}]),
    ],
)
def test_round_trip(local: str, name: str, value: Any, expected: Any) -> None:
    assert echo(name, value) == expected


def test_numpy_buffers_pass_as_bytes(local: str) -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(10, dtype=np.uint32)
    assert echo("bytes", array) == array.tobytes()


def test_records_accept_objects_with_attributes(local: str) -> None:
    @dataclass
    class Point:
        x: int
        y: int
        label: str

    assert echo("point", Point(5, 6, "dc")) == {"x": 5, "y": 6, "label": "dc"}


def test_a_result_is_its_ok_value_or_raises_its_err(local: str) -> None:
    assert echo("result", {"ok": "fine"}) == "fine"
    with pytest.raises(weft.GuestError) as err:
        echo("result", {"err": 42})
    assert err.value.value == 42


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("bool", 1, r"parameter `v` \(bool\): expected a bool, got int"),
        ("numbers", {**NUMBERS, "a": 256}, r"at \.a: 256 is out of range for u8"),
        ("numbers", {**NUMBERS, "c": -1}, r"at \.c: -1 is out of range for u32"),
        ("numbers", {"a": 1}, r"the record has no field `b`"),
        ("char", "ab", r"expected a one-character str, got 2 characters"),
        ("string", b"x", r"expected a str, got bytes"),
        ("bytes", "text", r"expected bytes, got str"),
        ("strings", ["a", 1], r"at \[1\]: expected a str, got int"),
        ("shape", weft.Variant("hexagon", 1), r"`hexagon` is not one of: circle, rect, empty"),
        ("shape", weft.Variant("empty", 1), r"case `empty` carries no value"),
        ("color", "purple", r"`purple` is not one of: red, green, blue"),
        ("perms", {"fly"}, r"`fly` is not one of: read, write, exec"),
        ("tuple", (1, "two"), r"expected a tuple of 3, got 2 items"),
        ("nested", [{"x": 1, "y": "2", "label": ""}], r"at \[0\]\.y: expected an int, got str"),
    ],
)
def test_a_wrong_value_names_where_and_what(local: str, name: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        echo(name, value)


def test_object_refs_inside_values_come_back_as_refs(local: str) -> None:
    tk = weft.component("testkit")
    bundle = weft.get(tk.refs.make_bundle.remote(1, 3))
    assert bundle["label"] == "3 objects of 1 KiB"
    assert isinstance(bundle["first"], weft.ObjectRef)
    assert len(bundle["rest"]) == 2 and all(isinstance(r, weft.ObjectRef) for r in bundle["rest"])
    assert bundle["maybe"] == bundle["rest"][-1]
    assert len(bytes(weft.get(bundle["first"]))) == 1024
