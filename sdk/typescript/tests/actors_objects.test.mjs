// Actors and the object store from Node.js against a local cluster.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { ActorDiedError, WeftError, connect } from "../dist/index.js";
import { guest, startLocal } from "./cluster.mjs";

let cluster;
let weft;

before(async () => {
  cluster = await startLocal();
  weft = await connect(cluster.address);
  await weft.deploy(guest("example_counter"), { name: "counter" });
  await weft.deploy(guest("weft_testkit"), { name: "testkit" });
});

after(() => {
  weft?.close();
  cluster?.stop();
});

test("a thousand actor calls run in the order made", async () => {
  const counter = await weft.createActor("counter", "counter", [0n]);
  const refs = Array.from({ length: 1000 }, () => counter.call("incr"));
  assert.deepEqual(await weft.get(refs), Array.from({ length: 1000 }, (_, i) => BigInt(i + 1)));
  assert.equal(await counter.call("add", 5), 1005n);
  assert.ok(await weft.kill(counter));
  await assert.rejects(weft.get(counter.call("get"), { timeoutMs: 30_000 }), ActorDiedError);
});

test("a named detached actor is found from another process", async () => {
  const hits = await weft.createActor("counter", "counter", [10], {
    name: "hits",
    namespace: "ts",
    detached: true,
    maxRestarts: 3,
  });
  assert.equal(await hits.call("incr"), 11n);
  const other = `
    import { connect } from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)};
    const weft = await connect(${JSON.stringify(cluster.address)});
    const hits = await weft.getActor("hits", { namespace: "ts" });
    console.log(String(await hits.call("incr")));
    weft.close();
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", other], { encoding: "utf8", timeout: 120_000 });
  assert.equal(out.trim(), "12");
  const again = await weft.getActor("hits", { namespace: "ts" });
  assert.equal(await again.call("get"), 12n);
  assert.ok((await weft.actors()).some((a) => a.name === "hits" && a.state === "alive"));
  await weft.kill(hits);
});

test("actor errors are clear", async () => {
  await assert.rejects(weft.createActor("counter", "counter", [-1]), {
    name: "TypeError",
    message: /parameter `start` \(u64\): -1 is out of range for u64/,
  });
  const counter = await weft.createActor("counter", "counter", [1]);
  assert.throws(() => counter.call("fly"), (e) => e instanceof WeftError && /has no method `fly`/.test(e.message));
  await assert.rejects(weft.getActor("no-such-actor"), WeftError);
  await weft.kill(counter);
});

test("a concurrent actor takes calls at once, and a plain one is refused", async () => {
  await weft.deploy(guest("weft_async_actor"), { name: "async-actor" });
  const concurrent = await weft.createActor("async-actor", "", [], { maxConcurrency: 50 });
  const started = Date.now();
  const naps = await weft.get(Array.from({ length: 20 }, () => concurrent.call("nap", 300)));
  assert.deepEqual(naps, Array(20).fill(300));
  assert.ok(Date.now() - started < 3000, "20 naps of 300 ms ran at once");
  const grouped = await weft.createActor("async-actor", "", [], {
    maxConcurrency: 50,
    concurrencyGroups: { slow: 1 },
    methodGroups: { nap: "slow" },
  });
  await weft.get(Array.from({ length: 4 }, () => grouped.call("nap", 50)));
  assert.equal(await grouped.call("peak"), 1);
  await assert.rejects(weft.createActor("testkit", "", [], { maxConcurrency: 2 }), /async func/);
});

test("an instance actor keeps its state across calls", async () => {
  const tally = await weft.createActor("testkit", "");
  assert.deepEqual(await weft.get([tally.call("tally"), tally.call("tally"), tally.call("tally")]), [1n, 2n, 3n]);
  await weft.kill(tally);
});

/** The mappings of this process that name `path`'s directory. */
function mappingsIn(dir) {
  return readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((line) => line.includes(dir))
    .map((line) => {
      const [span, perms] = line.split(/\s+/);
      const [lo, hi] = span.split("-").map((x) => BigInt(`0x${x}`));
      return { size: Number(hi - lo), perms };
    });
}

test("a 100 MB Buffer is put and read back without a copy", async () => {
  const size = 100 * 1000 * 1000;
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) {
    data[i] = i % 251;
  }
  const ref = weft.put(data);
  const got = await ref;
  assert.equal(got.length, size);
  assert.ok(got.equals(data));
  // The Buffer is a private mapping of the object's pages in the store
  // (copy-on-write), not a copy in Node's heap.
  const views = mappingsIn(cluster.storeDir).filter((m) => m.perms.endsWith("p") && m.size >= size && m.size < size + 16384);
  assert.equal(views.length, 1, JSON.stringify(mappingsIn(cluster.storeDir)));
  // Writing to it changes this process's copy only.
  got[0] = 99;
  const again = await weft.get(ref);
  assert.equal(again[0], 0);
  assert.equal(await weft.component("testkit").call("checksum", ref), await weft.component("testkit").call("checksum-bytes", data));
});

test("the cluster lists its objects with their copies", async () => {
  const ref = weft.put(Buffer.alloc(1 << 20, 1));
  // The put reaches the leader on the session stream, the listing on its
  // own call.
  let mine;
  for (let i = 0; i < 100 && !mine; i++) {
    mine = (await weft.objects()).find((o) => o.id === ref.id);
    if (!mine) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(mine, "the put is listed");
  assert.equal(mine.kind, "put");
  assert.ok(mine.size >= 1 << 20);
  assert.equal(mine.copies[0].state, "primary");
  ref.release();
});
