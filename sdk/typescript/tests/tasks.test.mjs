// Tasks from Node.js against a local cluster: submit, get, refs as
// arguments, wait, cancel, and the errors a user sees.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { GuestError, TaskError, TimeoutError, WeftError, connect } from "../dist/index.js";
import { guest, startLocal } from "./cluster.mjs";

let cluster;
let weft;

before(async () => {
  cluster = await startLocal();
  weft = await connect(cluster.address);
  await weft.deploy(guest("example_pi"), { name: "pi" });
  await weft.deploy(guest("weft_testkit"), { name: "testkit" });
});

after(() => {
  weft?.close();
  cluster?.stop();
});

test("a fan-out of tasks comes back in order, and a ref awaits as its value", async () => {
  const pi = weft.component("pi");
  const refs = Array.from({ length: 16 }, (_, seed) => pi.call("estimate", 20_000, seed, { cpus: 1, maxRetries: 3 }));
  const values = await weft.get(refs);
  assert.equal(values.length, 16);
  assert.ok(values.every((v) => v > 2.9 && v < 3.4), String(values));
  assert.equal(await pi.call("estimate", 20_000, 3), values[3]);
});

test("functions in interfaces answer to WIT and camelCase names", async () => {
  const tk = weft.component("testkit");
  assert.equal(await tk.call("add", 2, 40), 42);
  assert.equal(await tk.call("values.echo-string", "wit"), "wit");
  assert.equal(await tk.call("values.echoString", "camel"), "camel");
  assert.ok((await tk.functions()).includes("weft:testkit/values.echo-point"));
  assert.throws(() => tk.call("nope"), (e) => e instanceof WeftError && /nope/.test(e.message));
});

test("a ref passes as an argument: the task gets its value", async () => {
  const tk = weft.component("testkit");
  const data = weft.put(Buffer.from("abc".repeat(1000)));
  const [byValue, byRef] = await weft.get([tk.call("checksum-bytes", data), tk.call("checksum", data)]);
  assert.equal(byValue, byRef);
  // A task's result passes the same way.
  const sum = tk.call("add", 1, 2);
  assert.equal(await tk.call("add", sum, 10), 13);
});

test("wait returns the first k ready and honours its timeout", async () => {
  const tk = weft.component("testkit");
  const quick = [tk.call("busy", 1), tk.call("busy", 1)];
  const slow = tk.call("busy", 3000);
  const [ready, notReady] = await weft.wait([slow, ...quick], { numReturns: 2, timeoutMs: 20_000 });
  assert.deepEqual(ready.map((r) => r.id).sort(), quick.map((r) => r.id).sort());
  assert.deepEqual(notReady, [slow]);
  const started = Date.now();
  const [none, all] = await weft.wait([tk.call("spin")], { numReturns: 1, timeoutMs: 300 });
  assert.equal(none.length, 0);
  assert.equal(all.length, 1);
  assert.ok(Date.now() - started < 5000);
  assert.ok(await weft.cancel(all[0]));
  await assert.rejects(weft.get(slow, { timeoutMs: 10 }), TimeoutError);
});

test("a cancel right after the submission reaches its task", async () => {
  const tk = weft.component("testkit");
  for (let i = 0; i < 30; i++) {
    const ref = tk.call("spin");
    assert.ok(await weft.cancel(ref));
    await assert.rejects(weft.get(ref, { timeoutMs: 30000 }), (e) => {
      assert.ok(e instanceof TaskError, String(e));
      assert.equal(e.kind, "canceled");
      return true;
    });
  }
});

test("a trap rejects with a TaskError and a result's err with a GuestError", async () => {
  const tk = weft.component("testkit");
  await assert.rejects(weft.get(tk.call("fail", "boom")), (e) => {
    assert.ok(e instanceof TaskError, String(e));
    assert.equal(e.kind, "trap");
    assert.match(e.message, /boom/);
    assert.ok(e.taskId.length > 0);
    return true;
  });
  await assert.rejects(weft.get(tk.call("values.echo-result", { tag: "err", val: 42 })), (e) => {
    assert.ok(e instanceof GuestError);
    assert.equal(e.value, 42);
    return true;
  });
  assert.equal(await tk.call("values.echo-result", { tag: "ok", val: "fine" }), "fine");
});

test("bad calls throw at once, naming what is wrong", () => {
  const tk = weft.component("testkit");
  assert.throws(() => tk.call("add", 1), { name: "TypeError", message: /testkit\.add takes 2 arguments \(a: s32, b: s32\), got 1/ });
  assert.throws(() => tk.call("add", 1, 2, { cpu: 1 }), { name: "TypeError", message: /unknown task option `cpu`/ });
  assert.throws(() => tk.call("add", 1, 2, { maxRetries: -1 }), { name: "TypeError", message: /maxRetries/ });
  assert.throws(() => weft.component("no-such").call("f"), WeftError);
  assert.throws(() => weft.put("text"), TypeError);
});

test("logs are what the guest printed", async () => {
  const tk = weft.component("testkit");
  const ref = tk.call("chatter", 30);
  assert.equal(await ref, 30);
  const lines = await weft.logs(ref);
  assert.equal(lines.length, 30);
  assert.deepEqual(await weft.logs(ref, { tail: 1 }), [lines[29]]);
});
