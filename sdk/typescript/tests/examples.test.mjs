// The README's tour and examples/typescript run as written, compiled by
// `tsc --strict` against the shipped declarations.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { connect } from "../dist/index.js";
import { ROOT, guest, startLocal } from "./cluster.mjs";

const SDK = join(ROOT, "sdk", "typescript");
const TSC = join(SDK, "node_modules", "typescript", "bin", "tsc");

let cluster;
let dir;

before(async () => {
  cluster = await startLocal();
  dir = mkdtempSync(join(tmpdir(), "weft-ts-examples-"));
  // `npm install path/to/sdk/typescript` makes this link.
  mkdirSync(join(dir, "node_modules", "@weft"), { recursive: true });
  symlinkSync(SDK, join(dir, "node_modules", "@weft", "client"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const release = join(dir, "target", "wasm32-wasip2", "release");
  mkdirSync(release, { recursive: true });
  for (const stem of ["example_pi", "example_counter"]) {
    symlinkSync(guest(stem), join(release, `${stem}.wasm`));
  }
});

after(() => {
  cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function compile(sources, outDir) {
  execFileSync(process.execPath, [
    TSC, "--strict", "--target", "ES2022", "--module", "NodeNext", "--moduleResolution", "NodeNext",
    "--types", "node", "--typeRoots", join(SDK, "node_modules", "@types"), "--outDir", outDir, ...sources,
  ], { cwd: dir, encoding: "utf8" });
}

function run(script, args = []) {
  return execFileSync(process.execPath, [script, ...args], {
    cwd: dir,
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, WEFT_ADDRESS: cluster.address },
  });
}

test("the README's tour compiles under --strict and runs as written", () => {
  const readme = readFileSync(join(SDK, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n(.*?)```/gs)].map((m) => m[1]);
  assert.ok(blocks.length > 0, "no ts block in the README");
  writeFileSync(join(dir, "tour.mts"), blocks.join("\n"));
  compile([join(dir, "tour.mts")], join(dir, "out"));
  const lines = run(join(dir, "out", "tour.mjs")).split("\n");
  assert.ok(Number(lines[0]) > 3.0 && Number(lines[0]) < 3.3, lines[0]);
  assert.match(lines[1], /pi\.estimate: parameter `samples` \(u64\): expected a number or a bigint, got a string/);
  assert.equal(lines[2], "2 6");
  assert.equal(lines[3], "Buffer 1000000");
  assert.equal(lines[4], "1, 2, 3, 4, 5");
  assert.equal(lines[5], "count 5");
  assert.equal(lines[6], "GuestError");
});

test("the fan-out example compiles under --strict and runs", async () => {
  const weft = await connect(cluster.address);
  await weft.deploy(guest("example_pi"), { name: "pi" });
  await weft.deploy(guest("example_counter"), { name: "counter" });
  weft.close();
  // Compiled where the package is installed, as a user's project would be.
  copyFileSync(join(ROOT, "examples", "typescript", "fanout.ts"), join(dir, "fanout.ts"));
  compile([join(dir, "fanout.ts")], join(dir, "fanout"));
  const out = run(join(dir, "fanout", "fanout.js"), ["8", "20000"]);
  assert.match(out, /^pi is about 3\.\d{4} \(8 estimates of 20000 samples\)$/m);
});
