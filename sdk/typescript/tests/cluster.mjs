// Real weft processes for the tests: a local cluster (`weft up`), or a
// controller with worker hosts that can be killed. They need the `weft`
// binary ($WEFT_BIN, else the workspace's debug build) and the guest
// components the Rust tests build ($WEFT_GUESTS).
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const WEFT_BIN = resolve(process.env.WEFT_BIN ?? join(ROOT, "target", "debug", "weft"));
const GUESTS = process.env.WEFT_GUESTS ?? join(ROOT, "target", "guests", "wasm32-wasip2", "release");

/** The path of a test guest the Rust tests built (`weft_testkit`, ...). */
export function guest(stem) {
  return join(GUESTS, `${stem}.wasm`);
}

/** A free loopback port. */
export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** A `weft` process; resolves once it printed the line starting `ready`,
 * with the address that line names. */
export function start(args, log, ready) {
  const child = spawn(WEFT_BIN, args, { stdio: ["ignore", "pipe", openSync(log, "w")] });
  return new Promise((done, fail) => {
    const lines = createInterface({ input: child.stdout });
    let found = false;
    lines.on("line", (line) => {
      if (!found && line.startsWith(ready)) {
        found = true;
        const words = line.slice(ready.length).split(/\s+/);
        done({ child, log, address: ready === "weft host: " ? words[2] : words[0] });
      }
    });
    child.on("exit", (code) => {
      if (!found) {
        fail(new Error(`weft ${args.join(" ")} exited (${code}): ${readFileSync(log, "utf8")}`));
      }
    });
  });
}

function scratch(prefix) {
  return {
    dir: mkdtempSync(join(tmpdir(), prefix)),
    shm: mkdtempSync(join("/dev/shm", prefix)),
  };
}

/** `weft up`: a controller and a host in one process. */
export async function startLocal(cpus = 4) {
  const { dir, shm } = scratch("weft-ts-local-");
  const port = await freePort();
  const up = await start(
    ["up", "--port", String(port), "--data-dir", join(dir, "data"), "--store-dir", shm, "--cpus", String(cpus)],
    join(dir, "log"),
    "weft up: listening on ",
  );
  return {
    address: up.address,
    storeDir: shm,
    stop() {
      up.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      rmSync(shm, { recursive: true, force: true });
    },
  };
}

/** A controller and the hosts started with `startHost`, each a process. */
export async function startGroup() {
  const { dir, shm } = scratch("weft-ts-group-");
  const port = await freePort();
  const controller = await start(
    ["controller", "--id", "1", "--port", String(port), "--data-dir", join(dir, "controller"),
      "--peers", `1=127.0.0.1:${port}`, "--host-timeout", "2"],
    join(dir, "controller.log"),
    "weft up: listening on ",
  );
  const hosts = new Map();
  return {
    address: `127.0.0.1:${port}`,
    async startHost(id, cpus = 2) {
      hosts.set(id, await start(
        ["host", "--controller", `127.0.0.1:${port}`, "--port", "0", "--id", id, "--cpus", String(cpus),
          "--heartbeat-ms", "200", "--data-dir", join(dir, `host-${id}`), "--store-dir", join(shm, id),
          "--http-port", "0"],
        join(dir, `host-${id}.log`),
        "weft host: ",
      ));
    },
    killHost(id) {
      hosts.get(id).child.kill("SIGKILL");
      hosts.delete(id);
    },
    logs() {
      return [controller, ...hosts.values()].map((p) => `== ${p.log}\n${readFileSync(p.log, "utf8")}`).join("\n");
    },
    stop() {
      for (const p of [controller, ...hosts.values()]) {
        p.child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
      rmSync(shm, { recursive: true, force: true });
    },
  };
}
