// Builds the package: the native addon with cargo, into the workspace's
// own target dir (so a workspace build and this one compile the Rust
// once), copied here as `weft.node`; then the TypeScript into `dist/`.
//
// WEFT_NODE_PROFILE picks the cargo profile: `release` (the default, for
// use) or `dev` (what the test suite builds, sharing the workspace's
// debug build).
import { execFileSync } from "node:child_process";
import { copyFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const root = join(here, "..", "..");
const profile = process.env.WEFT_NODE_PROFILE ?? "release";
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const library = {
  linux: "libweft_node.so",
  darwin: "libweft_node.dylib",
  win32: "weft_node.dll",
}[process.platform];
if (!library) {
  throw new Error(`weft's addon is not built for ${process.platform}`);
}

const run = (command, args, cwd) => execFileSync(command, args, { cwd, stdio: "inherit" });

run("cargo", ["build", "--quiet", "--profile", profile, "-p", "weft-node"], root);
const outDir = profile === "dev" ? "debug" : profile;
copyFileSync(join(targetDir, outDir, library), join(here, "weft.node"));
run(process.execPath, [join(here, "node_modules", "typescript", "bin", "tsc"), "-p", here], here);
