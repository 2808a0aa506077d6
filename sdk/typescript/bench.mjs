// The shapes of `ray microbenchmark`, from Node.js, beside the Python
// SDK's bench (weft from Python, and Ray when installed) in one run, with
// the ratios per row.
//
//   node sdk/typescript/bench.mjs [--seconds 2] [--rounds 3] [--no-python]
//
// Each round starts `weft up` ($WEFT_BIN, else the workspace's release
// build, else its debug build) with the test guests ($WEFT_GUESTS), runs
// the Node.js rows, stops it, then runs `sdk/python/bench.py` with the
// Python of $WEFT_PYTHON (else target/py), Ray in the last round only.
// Rounds alternate so that a slow minute of the machine hits both; each
// figure is the median of its rounds. Timings are printed, never asserted.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";

import { fileURLToPath } from "node:url";

import { connect } from "./dist/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1] || 2) || 2;
const withPython = !args.includes("--no-python");
const rounds = Math.max(1, Number(args[args.indexOf("--rounds") + 1] || 3) || 3);
// Before the test helpers read it: both benches run the same binary.
if (!process.env.WEFT_BIN && existsSync(join(ROOT, "target", "release", "weft"))) {
  process.env.WEFT_BIN = join(ROOT, "target", "release", "weft");
}
const { WEFT_BIN, guest, startLocal } = await import("./tests/cluster.mjs");

/** Operations per second of `body` (which resolves to how many it did),
 * run repeatedly for about `seconds` after one warm-up call. */
async function rate(body) {
  await body();
  let done = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    done += await body();
  }
  return done / ((performance.now() - start) / 1000);
}

async function gbPerS(body, bytes) {
  await body();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await body();
    n += 1;
  }
  return (n * bytes) / ((performance.now() - start) / 1000) / 1e9;
}

async function nodeRows() {
  const started = performance.now();
  const cluster = await startLocal();
  const weft = await connect(cluster.address);
  try {
    const kit = await weft.deploy(guest("weft_testkit"), { name: "testkit" });
    await weft.deploy(guest("example_counter"), { name: "counter" });
    await kit.call("add", 1, 1);
    const first = (performance.now() - started) / 1000;
    const counter = await weft.createActor("counter", "counter", [0n]);
    const small = weft.put(Buffer.alloc(100, 120));
    const array = Buffer.alloc(100_000_000);
    for (let i = 0; i < array.length; i += 4096) {
      array[i] = i % 251;
    }
    const batch = (make) => async () => (await weft.get(Array.from({ length: 1000 }, make))).length;
    const rows = [
      ["single client tasks sync", await rate(async () => (await kit.call("add", 1, 1), 1)), "/s"],
      ["single client tasks async", await rate(batch(() => kit.call("add", 1, 1))), "/s"],
      ["1:1 actor calls sync", await rate(async () => (await counter.call("incr"), 1)), "/s"],
      ["1:1 actor calls async", await rate(batch(() => counter.call("incr"))), "/s"],
      ["single client put calls", await rate(async () => (weft.put(Buffer.alloc(100, 120)).release(), 1)), "/s"],
      ["single client get calls", await rate(async () => (await weft.get(small), 1)), "/s"],
      ["single client put 100 MB", await gbPerS(async () => weft.put(array).release(), array.length), "GB/s"],
      ["init to first result", first, "s"],
    ];
    await weft.kill(counter);
    console.error(`(Node.js ${process.version}, ${WEFT_BIN})`);
    return rows;
  } finally {
    weft.close();
    cluster.stop();
  }
}

/** The Python bench's rows: `{ name: [weft, Ray?] }`. */
function pythonRows(withRay) {
  const python = process.env.WEFT_PYTHON ?? join(ROOT, "target", "py", "bin", "python");
  if (!existsSync(python)) {
    console.error(`(no Python at ${python}: set WEFT_PYTHON to compare)`);
    return {};
  }
  const flags = ["--seconds", String(seconds), ...(withRay ? [] : ["--no-ray"])];
  const out = execFileSync(python, [join(ROOT, "sdk", "python", "bench.py"), ...flags], {
    encoding: "utf8",
    env: process.env,
    maxBuffer: 1 << 24,
  });
  const rows = {};
  for (const line of out.split("\n")) {
    const m = line.match(/^(.{28})\s*([\d,.]+) (\/s|GB\/s|s)\s*(?:([\d,.]+) \S+\s+[\d.]+x)?/);
    if (m) {
      const num = (s) => (s === undefined ? undefined : Number(s.replaceAll(",", "")));
      rows[m[1].trim()] = [num(m[2]), num(m[4])];
    }
  }
  return rows;
}

const median = (xs) => {
  const sorted = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined;
};
const nodeRounds = [];
const pythonRounds = [];
for (let round = 1; round <= rounds; round++) {
  console.error(`(round ${round} of ${rounds})`);
  nodeRounds.push(await nodeRows());
  if (withPython) {
    pythonRounds.push(pythonRows(round === rounds));
  }
}
const ours = nodeRounds[0].map(([name, , unit], i) => [name, median(nodeRounds.map((r) => r[i][1])), unit]);
const theirs = {};
for (const [name] of ours) {
  theirs[name] = [median(pythonRounds.map((r) => r[name]?.[0])), median(pythonRounds.map((r) => r[name]?.[1]))];
}
const fmt = (v, unit) => (v === undefined ? "" : `${v.toLocaleString("en-US", { maximumFractionDigits: 2, minimumFractionDigits: 2 })} ${unit}`);
const ratio = (a, b, unit) => (b === undefined ? "" : `${(unit === "s" ? b / a : a / b).toFixed(2)}x`);
console.log(
  `${"benchmark".padEnd(28)}${"Node.js".padStart(16)}${"Python".padStart(16)}${"Ray".padStart(16)}${"Node/Python".padStart(13)}${"Node/Ray".padStart(10)}`,
);
for (const [name, value, unit] of ours) {
  const [python, ray] = theirs[name] ?? [];
  console.log(
    `${name.padEnd(28)}${fmt(value, unit).padStart(16)}${fmt(python, unit).padStart(16)}${fmt(ray, unit).padStart(16)}` +
      `${ratio(value, python, unit).padStart(13)}${ratio(value, ray, unit).padStart(10)}`,
  );
}
