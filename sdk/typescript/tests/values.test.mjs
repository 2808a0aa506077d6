// Every WIT type of the test guest round-trips from JavaScript, and a
// wrong value is a TypeError naming the parameter, the place in it and
// its type.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ObjectRef, connect } from "../dist/index.js";
import { guest, startLocal } from "./cluster.mjs";

let cluster;
let weft;
let tk;

before(async () => {
  cluster = await startLocal();
  weft = await connect(cluster.address);
  tk = await weft.deploy(guest("weft_testkit"), { name: "testkit" });
});

after(() => {
  weft?.close();
  cluster?.stop();
});

const echo = (name, value) => tk.call(`values.echo-${name}`, value);

const NUMBERS = { a: 255, b: 65535, c: 2 ** 32 - 1, d: 2n ** 64n - 1n, e: -128, f: -32768, g: -(2 ** 31), h: -(2n ** 63n), i: 1.5, j: -2.25 };

const ROUND_TRIPS = [
  ["bool", true, true],
  ["numbers", NUMBERS, NUMBERS],
  ["numbers", { ...NUMBERS, d: 7, h: -7 }, { ...NUMBERS, d: 7n, h: -7n }],
  ["char", "λ", "λ"],
  ["string", "héllo", "héllo"],
  ["bytes", Buffer.from([0, 1, 255]), Buffer.from([0, 1, 255])],
  ["bytes", new Uint8Array([9, 8]), Buffer.from([9, 8])],
  ["strings", ["a", "b"], ["a", "b"]],
  ["point", { x: 1, y: -2, label: "p" }, { x: 1, y: -2, label: "p" }],
  ["shape", { tag: "circle", val: 2 }, { tag: "circle", val: 2 }],
  ["shape", { tag: "rect", val: { x: 0, y: 1, label: "" } }, { tag: "rect", val: { x: 0, y: 1, label: "" } }],
  ["shape", "empty", { tag: "empty" }],
  ["shape", { tag: "empty" }, { tag: "empty" }],
  ["color", "green", "green"],
  ["perms", ["read", "exec"], ["read", "exec"]],
  ["perms", [], []],
  ["option", null, null],
  ["option", undefined, null],
  ["option", 7, 7],
  ["tuple", [1, "two", false], [1, "two", false]],
  ["nested", [null, { x: 3, y: 4, label: "q" }], [null, { x: 3, y: 4, label: "q" }]],
];

for (const [name, value, expected] of ROUND_TRIPS) {
  test(`${name} round-trips: ${String(value)}`, async () => {
    assert.deepEqual(await echo(name, value), expected);
  });
}

test("a result is its ok value", async () => {
  assert.equal(await echo("result", { tag: "ok", val: "fine" }), "fine");
});

test("refs inside a record come back as ObjectRefs that read", async () => {
  const bundle = await tk.call("refs.make-bundle", 4, 3);
  assert.equal(bundle.label, "3 objects of 4 KiB");
  assert.ok(bundle.first instanceof ObjectRef);
  assert.equal(bundle.rest.length, 2);
  assert.equal((await bundle.first).length, 4096);
  assert.equal(await tk.call("checksum", bundle.rest[1]), await tk.call("checksum-bytes", await bundle.rest[1]));
  // A user's record with an `id` field is a record, not a ref.
  assert.deepEqual(await tk.call("refs.echo-lookalike", { id: "x" }), { id: "x" });
});

const MISFITS = [
  ["bool", 1, /parameter `v` \(bool\): expected a boolean, got a number/],
  ["numbers", { ...NUMBERS, a: 256 }, /at \.a: 256 is out of range for u8/],
  ["numbers", { ...NUMBERS, d: -1 }, /at \.d: -1 is out of range for u64/],
  ["numbers", { ...NUMBERS, d: 2 ** 60 }, /at \.d: .* pass a bigint for u64/],
  ["numbers", { ...NUMBERS, c: 1.5 }, /at \.c: 1\.5 is not an integer \(u32\)/],
  ["numbers", { ...NUMBERS, h: 2n ** 64n }, /at \.h: 18446744073709551616 is out of range for s64/],
  ["char", "ab", /expected a one-character string, got 2 characters/],
  ["bytes", [1, 2], /expected a Uint8Array or Buffer, got an array/],
  ["strings", ["a", 2], /at \[1\]: expected a string, got a number/],
  ["point", { x: 1, label: "p" }, /the record has no field `y`/],
  ["shape", { tag: "square" }, /`square` is not one of: circle, rect, empty/],
  ["shape", { tag: "circle" }, /case `circle` carries a value/],
  ["shape", { tag: "empty", val: 3 }, /case `empty` carries no value/],
  ["color", "mauve", /`mauve` is not one of: red, green, blue/],
  ["perms", ["read", "fly"], /`fly` is not one of: read, write, exec/],
  ["option", "7", /expected a number or a bigint, got a string/],
  ["tuple", [1, "two"], /expected a tuple of 3, got 2 items/],
  ["nested", [{ x: 1, y: "2", label: "" }], /at \[0\]\.y: expected a number or a bigint, got a string/],
  ["result", { tag: "maybe" }, /`maybe` is not one of: ok, err/],
];

for (const [name, value, message] of MISFITS) {
  test(`a bad ${name} is a TypeError: ${message}`, () => {
    assert.throws(() => echo(name, value), (e) => {
      assert.ok(e instanceof TypeError, String(e));
      assert.match(e.message, new RegExp(`testkit\\.values\\.echo-${name}: parameter`));
      assert.match(e.message, message);
      return true;
    });
  });
}
