// Streaming tasks from Node.js: `component.stream(...)` gives an
// ObjectRefGenerator whose items arrive in order while the task runs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ObjectRefGenerator, TaskError, connect } from "../dist/index.js";
import { guest, startLocal } from "./cluster.mjs";

let cluster;
let weft;

before(async () => {
  cluster = await startLocal();
  weft = await connect(cluster.address);
  await weft.deploy(guest("weft_testkit"), { name: "testkit" });
});

after(() => {
  weft?.close();
  cluster?.stop();
});

test("ten thousand items arrive in order while the task runs", async () => {
  const tk = weft.component("testkit");
  // The producer holds on for 3 s after its last item.
  const gen = tk.stream("streams.count", 10_000, 0, 3_000);
  assert.ok(gen instanceof ObjectRefGenerator);
  let n = 0;
  for await (const ref of gen) {
    assert.equal(await ref, n);
    ref.release();
    n += 1;
    if (n === 10_000) {
      const [ready] = await weft.wait([gen.taskRef], { numReturns: 1, timeoutMs: 0 });
      assert.equal(ready.length, 0, "every item came before the end");
    }
  }
  assert.equal(n, 10_000);
  assert.equal(await gen.taskRef, 10_000);
});

test("backpressure holds the producer until items are read", async () => {
  const tk = weft.component("testkit");
  const gen = tk.stream("streams.count", 100, 0, 0, { streamBackpressure: 5 });
  const first = await gen.next();
  assert.equal(await first.value, 0);
  const [ready] = await weft.wait([gen.taskRef], { numReturns: 1, timeoutMs: 1000 });
  assert.equal(ready.length, 0, "the producer waits for the consumer");
  const rest = [];
  for await (const ref of gen) {
    rest.push(await ref);
  }
  assert.deepEqual(rest, Array.from({ length: 99 }, (_, i) => i + 1));
});

test("a failed stream rejects after its items, and a plain task cannot emit", async () => {
  const tk = weft.component("testkit");
  const gen = tk.stream("fail", "no items today", { maxRetries: 0 });
  await assert.rejects(gen.next(), (e) => {
    assert.ok(e instanceof TaskError, String(e));
    assert.match(e.message, /no items today/);
    return true;
  });
  await assert.rejects(weft.get(tk.call("streams.count", 3, 0, 0, { maxRetries: 0 })), /is not streaming/);
});

test("an actor method streams its items to the caller", async () => {
  const actor = await weft.createActor("testkit", "");
  const seen = [];
  for await (const ref of actor.stream("streams.count", 50, 0, 0)) {
    seen.push(await ref);
  }
  assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i));
  await weft.kill(actor);
});
