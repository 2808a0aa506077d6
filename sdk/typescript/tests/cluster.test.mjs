// A controller and two hosts as separate processes: a host killed with
// SIGKILL in the middle of a batch loses no task.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { connect } from "../dist/index.js";
import { guest, startGroup } from "./cluster.mjs";

let group;
let weft;

before(async () => {
  group = await startGroup();
  await group.startHost("h1");
  await group.startHost("h2");
  weft = await connect(group.address);
  await weft.deploy(guest("weft_testkit"), { name: "testkit" });
});

after(() => {
  weft?.close();
  group?.stop();
});

test("tasks on a killed host still complete", async () => {
  const tk = weft.component("testkit");
  const refs = Array.from({ length: 16 }, () => tk.call("busy", 200, { maxRetries: 3 }));
  await new Promise((done) => setTimeout(done, 300));
  group.killHost("h1");
  try {
    assert.deepEqual(await weft.get(refs, { timeoutMs: 120_000 }), Array(16).fill(200));
  } catch (error) {
    console.log(group.logs());
    throw error;
  }
  assert.deepEqual((await weft.nodes()).filter((n) => n.alive).map((n) => n.id), ["h2"]);
});
