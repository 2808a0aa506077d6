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
  await weft.deploy(guest("weft_config_reader"), { name: "probe" });
  await weft.deploy(guest("example_http_hello"), { name: "http-hello" });
  await weft.deploy(guest("example_tune"), { name: "trainable" });
});

after(() => {
  weft?.close();
  group?.stop();
});

test("placement groups reserve bundles and hold the work placed in them", async () => {
  const pg = await weft.placementGroup([{ cpus: 1 }, { cpus: 1 }], { strategy: "STRICT_SPREAD" });
  const info = await pg.ready({ timeoutMs: 30_000 });
  assert.equal(info.state, "created");
  assert.deepEqual([...info.bundleHosts].sort(), ["h1", "h2"]);
  const tk = weft.component("testkit");
  assert.equal(await tk.call("add", 1, 2, { placementGroup: pg, bundleIndex: 1 }), 3);
  assert.equal(await tk.call("add", 2, 2, { placementGroup: pg.id }), 4);
  await assert.rejects(weft.get(tk.call("add", 1, 1, { placementGroup: pg, cpus: 2 })), /more than any bundle/);

  const waiting = await weft.placementGroup([{ cpus: 1 }, { cpus: 1 }, { cpus: 1 }], {
    strategy: "strict-spread",
  });
  assert.equal(await waiting.wait(300), false);
  await assert.rejects(waiting.ready({ timeoutMs: 200 }), /3 distinct hosts/);
  await assert.rejects(weft.placementGroup([{ cpus: 1 }], { strategy: "TIGHT" }), /unknown placement strategy/);
  assert.ok((await weft.placementGroups()).some((g) => g.id === waiting.id && g.state === "pending"));
  assert.equal(await pg.remove(), true);
  assert.equal(await weft.removePlacementGroup(waiting), true);
  assert.equal((await pg.info()).state, "removed");
});

test("a runtime env reaches a guest written for wasi:config", async () => {
  const probe = weft.component("probe");
  const env = { config: { greeting: "hi" }, env: { MODE: "js" } };
  assert.equal(await probe.call("probe.config", "greeting", env), "hi");
  assert.equal(await probe.call("probe.env", "MODE", env), "js");
  assert.equal(await probe.call("probe.config", "greeting"), null);
  await assert.rejects(weft.get(probe.call("probe.config", "x", { secrets: ["nothing"] })), /no secret named `nothing`/);
  assert.throws(() => probe.call("probe.config", "x", { config: "greeting=hi" }), /option `config`/);
  // A default at deploy fills what a call leaves empty (for this digest).
  await weft.deploy(guest("weft_config_reader"), { name: "probe", runtimeEnv: { config: { greeting: "dflt" } } });
  assert.equal(await probe.call("probe.config", "greeting"), "dflt");
  assert.equal(await probe.call("probe.config", "greeting", env), "hi");
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

test("Serve runs an application's replicas on the live hosts and deletes it", async () => {
  const app = { name: "tsapp", deployments: [{ name: "web", component: "http-hello", route: "/ts/...", num_replicas: 2 }] };
  const [shown] = await weft.serve.run(app);
  const [web] = shown.deployments;
  assert.equal(web.route, "/ts/...");
  assert.deepEqual(web.replicas.map((r) => r.state), ["running", "running"]);
  // h1 was killed above: both run on the live host.
  assert.deepEqual(web.replicas.map((r) => r.host), ["h2", "h2"]);
  const [again] = await weft.serve.run({ applications: [app] });
  assert.deepEqual(again.deployments[0].replicas.map((r) => r.id).sort(), web.replicas.map((r) => r.id).sort());
  await assert.rejects(weft.serve.run({ ...app, name: "other", deployments: [{ ...app.deployments[0], component: "nowhere" }] }), /unknown component `nowhere`/);
  await assert.rejects(weft.serve.run({ name: "bad", deployments: [{ name: "web", component: "http-hello", replicas: 2 }] }), /unknown field `replicas`/);
  await weft.serve.delete("tsapp");
  assert.deepEqual(await weft.serve.status(), []);
});

test("Serve handles call function and handler deployments from the driver", async () => {
  await weft.serve.run({
    name: "calc",
    deployments: [
      { name: "adder", component: "testkit", function: "add" },
      { name: "web", component: "http-hello" },
    ],
  });
  const adder = weft.serve.getDeploymentHandle("adder", "calc");
  assert.equal(await adder.remote(40, 2), 42);
  assert.deepEqual(await Promise.all([1, 2, 3].map((i) => adder.remote(i, i))), [2, 4, 6]);
  await assert.rejects(adder.remote(1, "x"), /calc\/adder answered 400/);
  const web = weft.serve.getDeploymentHandle("web", "calc");
  const reply = await web.request("/hello/ts");
  assert.equal(reply.status, 200);
  assert.equal(reply.body.toString(), "Hello, ts!\n");
  await assert.rejects(weft.serve.getDeploymentHandle("nobody", "calc").remote(), /no deployment nobody/);
  await weft.serve.delete("calc");

  await weft.serve.run({
    name: "streams",
    deployments: [{ name: "counter", component: "testkit", function: "streams.count", stream: true }],
  });
  const values = [];
  for await (const value of weft.serve.getDeploymentHandle("counter", "streams").stream(3, 0, 0)) {
    values.push(value);
  }
  assert.deepEqual(values, [0, 1, 2, 3]);
  await weft.serve.delete("streams");
});

test("Tune runs an experiment on the leader and stops the poor trials early", async () => {
  const { Tune } = await import("../dist/index.js");
  const done = await weft.tune.fit(
    {
      component: "trainable",
      function: "train",
      name: "ts-sweep",
      param_space: { rate: Tune.gridSearch([0.5, 0.9, 0.1]), iterations: 4, "work-ms": 0 },
      metric: "score",
      max_concurrent_trials: 1,
      scheduler: { type: "asha", max_t: 4, reduction_factor: 2 },
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(done.state, "FINISHED");
  assert.deepEqual(
    done.trials.map((t) => [t.config.rate, t.state, t.results.length]),
    [
      [0.5, "TERMINATED", 4],
      [0.9, "TERMINATED", 4],
      [0.1, "STOPPED", 1],
    ],
  );
  assert.equal(done.best_trial, done.trials[1].id);
  assert.equal((await weft.tune.status("ts-sweep")).id, done.id);
  assert.equal((await weft.tune.list())[0].name, "ts-sweep");
  await assert.rejects(
    weft.tune.run({ component: "trainable", function: "train", param_space: { rate: Tune.uniform(2, 1) }, metric: "score" }),
    /lower \(2\) must be below upper \(1\)/,
  );
});
