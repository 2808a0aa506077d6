// The JavaScript guest SDK's codec (sdk/js-guest/weft-guest/values.js)
// against the examples of docs/VALUES.md, which the Rust encoder's tests
// share, and against malformed input.
import assert from "node:assert/strict";
import { test } from "node:test";

import { decode, encode } from "../../js-guest/weft-guest/values.js";

const bytes = (hex) => Uint8Array.from(Buffer.from(hex, "hex"));
const hex = (data) => Buffer.from(data).toString("hex");

test("the documented examples decode", () => {
  assert.equal(decode(bytes("01072a000000")), 42);
  assert.equal(decode(bytes("010d026869")), "hi");
  assert.deepEqual(decode(bytes("010e03010203")), Uint8Array.from([1, 2, 3]));
  assert.deepEqual(decode(bytes("0114011703612d31")), { id: "a-1" });
  assert.deepEqual(decode(bytes("01100101780201")), { x: 1 });
});

test("JavaScript values encode as themselves", () => {
  assert.equal(hex(encode("hi")), "010d026869");
  assert.equal(hex(encode(Uint8Array.from([1, 2, 3]))), "010e03010203");
  assert.equal(hex(encode(42)), "01082a00000000000000"); // an integral number is an s64
  assert.equal(hex(encode(null)), "011400");
  assert.equal(hex(encode({ longName: true })), "011001096c6f6e672d6e616d650101");
  const ref = { id: "a-1" };
  assert.equal(hex(encode(ref, (v) => v === ref)), "011703612d31");
});

test("values round-trip", () => {
  for (const value of [0, -1, 1.5, "naïve ☕", [1, [2, "x"]], { a: { b: null } }, true]) {
    assert.deepEqual(decode(encode(value)), value);
  }
  assert.equal(decode(encode(2n ** 64n - 1n)), 2n ** 64n - 1n);
  assert.equal(decode(encode(2n ** 40n)), 2 ** 40);
});

test("malformed input is refused naming the problem", () => {
  for (const [input, needle] of [
    ["", /truncated/],
    ["02", /version 2/],
    ["0107", /truncated/],
    ["01ff", /unknown value tag 0xff/],
    ["01010000", /trailing byte/],
    ["010102", /flag byte 2/],
  ]) {
    assert.throws(() => decode(bytes(input)), needle);
  }
  const deep = Uint8Array.from([1, ...Array(200).fill([0x14, 0x01]).flat(), 0x14, 0x00]);
  assert.throws(() => decode(deep), /deeper than 128/);
  assert.throws(() => encode(() => 1), /a function has no component value form/);
});
