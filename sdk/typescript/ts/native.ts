// The native addon (`weft.node`, built from `src/` with napi-rs): the Rust
// client. Only this package calls it; `index.ts` is the API.
import { createRequire } from "node:module";

/** What `deploy` answers. */
export interface Deployed {
  digest: string;
  functions: string[];
}

/** A host of the cluster. */
export interface NodeInfo {
  id: string;
  address: string;
  alive: boolean;
  cpus: number;
  gpus: number;
  running: number;
}

/** An object of the cluster, as `objects` lists it. */
export interface ObjectInfo {
  id: string;
  /** `result`, `put` or `item` (of a streaming task). */
  kind: string;
  owner: string;
  size: number;
  /** The host whose store holds it; empty when the leader holds it inline. */
  heldBy: string;
  refs: number;
  /** Its copies in hosts' stores: `state` is `primary`, `spilled` or `secondary`. */
  copies: { host: string; state: string; pins: number }[];
}

/** An actor the cluster knows. */
export interface ActorInfo {
  id: string;
  component: string;
  class: string;
  name: string;
  state: string;
  host: string;
  restarts: number;
}

/** A placement group the cluster knows. */
export interface PlacementGroupInfo {
  id: string;
  name: string;
  namespace: string;
  /** `PACK`, `SPREAD`, `STRICT_PACK` or `STRICT_SPREAD`. */
  strategy: string;
  /** `pending`, `created`, `rescheduling` or `removed`. */
  state: string;
  /** Each bundle's resources (`cpus`, `gpus`, `memory`, custom). */
  bundles: Record<string, number>[];
  /** The host of each bundle (empty where it is not placed). */
  bundleHosts: string[];
  /** Why a pending group waits: which bundle fits no host, and what it lacks. */
  pendingReason: string;
  detached: boolean;
}

/** A runtime environment: variables, configuration (read through
 * `wasi:config/store`), secrets and host directories by name. */
export interface RuntimeEnv {
  env?: Record<string, string>;
  config?: Record<string, string>;
  secrets?: string[];
  dirs?: string[];
}

/** A streaming task's items, as the addon reads them. */
export interface NativeItemStream {
  readonly taskId: string;
  next(timeoutMs: number | undefined | null): Promise<string | null>;
}

/** A streaming Serve deployment's values, as the addon reads them. */
export interface NativeServeStream {
  next(): Promise<string | null>;
}

/** A native session: one owner session and one RPC client. */
export interface NativeSession {
  readonly address: string;
  close(): void;
  deploy(wasm: Uint8Array, name: string | undefined | null): Promise<Deployed>;
  setRuntimeEnv(component: string, runtimeEnv: RuntimeEnv): Promise<string>;
  functions(component: string): Promise<string[]>;
  submit(component: string, func: string, args: unknown[]): string;
  submitStream(component: string, func: string, args: unknown[]): NativeItemStream;
  get(ids: string[], timeoutMs: number | undefined | null): Promise<[unknown[], number[]]>;
  getNow(ids: string[]): [unknown[], number[]] | null;
  wait(ids: string[], numReturns: number, timeoutMs: number | undefined | null): Promise<string[][]>;
  release(ids: string[]): void;
  cancel(id: string): Promise<boolean>;
  put(data: Uint8Array): string;
  createActor(component: string, cls: string, args: unknown[]): Promise<string>;
  callActor(id: string, method: string, args: unknown[]): string;
  callActorStream(id: string, method: string, args: unknown[]): NativeItemStream;
  getActor(name: string, namespace: string | undefined | null): Promise<string>;
  killActor(id: string): Promise<boolean>;
  actors(): Promise<ActorInfo[]>;
  createPlacementGroup(
    bundles: Record<string, number>[],
    strategy: string,
    name: string | undefined | null,
    namespace: string | undefined | null,
    detached: boolean | undefined | null,
  ): Promise<PlacementGroupInfo>;
  placementGroup(id: string, waitMs: number | undefined | null): Promise<PlacementGroupInfo>;
  placementGroups(): Promise<PlacementGroupInfo[]>;
  removePlacementGroup(id: string): Promise<boolean>;
  tuneRun(specJson: string): Promise<string>;
  tuneStatus(id: string): Promise<string>;
  tuneList(): Promise<string>;
  tuneStop(id: string): Promise<string>;
  serveRun(text: string, waitMs: number): Promise<{ statuses: string; waiting: string[] }>;
  serveStatus(app: string): Promise<string>;
  serveDelete(app: string): Promise<void>;
  serveCall(app: string, deployment: string, argsJson: string): Promise<string>;
  serveStream(app: string, deployment: string, argsJson: string): Promise<NativeServeStream>;
  serveRequest(
    app: string,
    deployment: string,
    method: string,
    path: string,
    body: Buffer,
  ): Promise<{ status: number; body: Buffer }>;
  nodes(): Promise<NodeInfo[]>;
  objects(limit: number | undefined | null): Promise<ObjectInfo[]>;
  logs(task: string, tail: number | undefined | null): Promise<string[]>;
}

/** The addon's exports. */
export interface Native {
  connect(address: string): Promise<NativeSession>;
  registerClasses(
    refClass: unknown,
    makeRef: (id: string, container: string) => unknown,
    actorClass: unknown,
    makeActor: (id: string) => unknown,
  ): void;
}

const require = createRequire(import.meta.url);
export const native = require("../weft.node") as Native;
