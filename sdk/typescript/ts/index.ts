// weft's TypeScript SDK: drive a weft cluster from Node.js. A thin layer of
// idioms (Promises, classes, camelCase) over the Rust client, which the
// addon wraps: one implementation of weft's protocol serves the CLI and
// every SDK.
import { readFile } from "node:fs/promises";

import { GuestError, TimeoutError, WeftError, guard, settled } from "./errors.js";
import {
  native,
  type ActorInfo,
  type NativeItemStream,
  type NativeSession,
  type NodeInfo,
  type ObjectInfo,
  type PlacementGroupInfo,
  type RuntimeEnv,
} from "./native.js";

export * from "./errors.js";
export type {
  ActorInfo,
  Deployed,
  NodeInfo,
  ObjectInfo,
  PlacementGroupInfo,
  RuntimeEnv,
} from "./native.js";

/** Where `weft up` listens unless told otherwise. */
export const DEFAULT_ADDRESS = "127.0.0.1:7077";

/** Options of a task: what it needs and how it is retried. */
export interface TaskOptions {
  /** CPUs it holds while it runs (1 by default). */
  cpus?: number;
  /** GPUs it needs. */
  gpus?: number;
  /** Memory it needs, in bytes (for placement). */
  memory?: number;
  /** The most memory its instance may grow to, in bytes. */
  memoryLimit?: number;
  /** Custom resources it needs, by name. */
  custom?: Record<string, number>;
  /** How often it is retried after its host is lost. */
  maxRetries?: number;
  /** Whether a trap is retried too. */
  retryOnTrap?: boolean;
  /** Its deadline, in milliseconds. */
  timeoutMs?: number;
  /** `"spread"` or `"pack"`. */
  strategy?: string;
  /** The host it should run on. */
  affinityHost?: string;
  /** Whether another host may run it when that one cannot. */
  affinitySoft?: boolean;
  /** Calls one instance serves before it is replaced. */
  maxCalls?: number;
  /** For `stream`: the producer waits while this many items are unread
   * (Ray's `_generator_backpressure_num_objects`; none by default). */
  streamBackpressure?: number;
  /** Run in this placement group (or its id), from one of its bundles. */
  placementGroup?: PlacementGroup | string;
  /** The bundle to take from (-1, the default: any with room). */
  bundleIndex?: number;
  /** What it makes goes into the group too. */
  captureChildTasks?: boolean;
  /** Environment variables its guest sees. */
  env?: Record<string, string>;
  /** Configuration its guest reads through `wasi:config/store`. */
  config?: Record<string, string>;
  /** Secrets (by name, set with `weft secret put`) its guest reads the same way. */
  secrets?: string[];
  /** Directories its host offers (`--dir NAME=PATH`), seen at `/NAME`. */
  dirs?: string[];
}

/** Options of an actor. */
export interface ActorOptions {
  /** A name to find it by (`getActor`). */
  name?: string;
  /** The namespace of its name. */
  namespace?: string;
  /** Whether it outlives the client that made it. */
  detached?: boolean;
  /** How often it is restarted after its host is lost. */
  maxRestarts?: number;
  /** How often a call is retried across restarts. */
  maxTaskRetries?: number;
  /** CPUs it holds. */
  cpus?: number;
  /** GPUs it holds. */
  gpus?: number;
  /** The most memory its instance may grow to, in bytes. */
  memoryLimit?: number;
  /** Each call's deadline, in milliseconds. */
  callTimeoutMs?: number;
  /** Calls run at once in its one instance (above 1, it runs its `async
   * func` methods, interleaved where they await, and refuses the others). */
  maxConcurrency?: number;
  /** Named groups of calls and how many of each run at once. */
  concurrencyGroups?: Record<string, number>;
  /** The group each method's calls run in (others: the default group). */
  methodGroups?: Record<string, string>;
  /** Live in this placement group (or its id), in one of its bundles. */
  placementGroup?: PlacementGroup | string;
  /** The bundle to live in (-1, the default: any with room). */
  bundleIndex?: number;
  /** What it makes goes into the group too. */
  captureChildTasks?: boolean;
  /** Environment variables its guest sees. */
  env?: Record<string, string>;
  /** Configuration its guest reads through `wasi:config/store`. */
  config?: Record<string, string>;
  /** Secrets (by name, set with `weft secret put`) its guest reads the same way. */
  secrets?: string[];
  /** Directories its host offers (`--dir NAME=PATH`), seen at `/NAME`. */
  dirs?: string[];
}

/** Options of `placementGroup`. */
export interface PlacementGroupOptions {
  /** `PACK` (the default), `SPREAD`, `STRICT_PACK` or `STRICT_SPREAD`. */
  strategy?: string;
  /** A name to find it by. */
  name?: string;
  namespace?: string;
  /** `"detached"`: it outlives this client (else it is removed with it). */
  lifetime?: "detached" | "non_detached";
}

/** Options of `get`. */
export interface GetOptions {
  /** How long to wait, in milliseconds (`TimeoutError` past it). */
  timeoutMs?: number;
}

/** Options of `wait`. */
export interface WaitOptions {
  /** How many refs to wait for (1 by default). */
  numReturns?: number;
  /** How long to wait at most, in milliseconds. */
  timeoutMs?: number;
}

/** The client the refs found inside values belong to: the last connected. */
let current: Weft | undefined;

/** Refs being read by `get`, by id: a ref found inside one of their values
 * holds on to it, so the object that contains it lives as long as it. */
const reading = new Map<string, ObjectRef>();

/**
 * A ref to a task's result or a stored object. `await ref` (or
 * `weft.get(ref)`) reads it; passing it to a task passes the ref (the task
 * waits for it, and gets its value, or the ref itself for an `object-ref`
 * parameter). The cluster frees the object once no ref to it is left.
 */
export class ObjectRef<T = unknown> implements PromiseLike<T> {
  readonly #client: Weft | undefined;
  readonly #container: ObjectRef | undefined;

  constructor(
    readonly id: string,
    client?: Weft,
    container?: ObjectRef,
  ) {
    this.#client = client ?? current;
    this.#container = container;
    this.#client?.hold(this);
  }

  /** The client that reads it. */
  get client(): Weft {
    if (!this.#client) {
      throw new WeftError(`${this} belongs to no client: connect() first`);
    }
    return this.#client;
  }

  /**
   * Lets go of this ref now rather than when JavaScript collects it: once no
   * ref to the object is left, the cluster frees it. Large objects want
   * this, as the collector does not know what a ref holds on to.
   */
  release(): void {
    this.#client?.letGo(this);
  }

  /** The object that holds this ref in its value, if any. */
  get container(): ObjectRef | undefined {
    return this.#container;
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.client.get(this).then(onfulfilled, onrejected);
  }

  toString(): string {
    return `ObjectRef(${this.id})`;
  }
}

/**
 * The items of a streaming task (`component.stream(...)`, Ray's
 * `num_returns="streaming"`): `for await (const ref of gen)` gives the ref of
 * each item, in order, as the guest emits it; the loop ends with the task,
 * or rejects with its failure after the items it emitted. Collected before
 * its end, it lets go of the unread items and cancels the task.
 */
export class ObjectRefGenerator<T = unknown> implements AsyncIterable<ObjectRef<T>> {
  readonly #items: NativeItemStream;
  readonly #client: Weft;
  /** The task's own ref: its result, once the stream has ended. */
  readonly taskRef: ObjectRef;

  constructor(items: NativeItemStream, client: Weft) {
    this.#items = items;
    this.#client = client;
    this.taskRef = new ObjectRef(items.taskId, client);
  }

  /** The next item's ref (`done` at the end), waiting at most
   * `timeoutMs` (`TimeoutError` past it). */
  async next(options: GetOptions = {}): Promise<IteratorResult<ObjectRef<T>, undefined>> {
    const id = await settled(this.#items.next(options.timeoutMs));
    if (id === null) {
      return { done: true, value: undefined };
    }
    return { done: false, value: new ObjectRef<T>(id, this.#client) };
  }

  [Symbol.asyncIterator](): AsyncIterator<ObjectRef<T>, undefined> {
    // Not an async generator: `yield` would await the ref (it is a
    // thenable) and hand out its value.
    return { next: () => this.next() };
  }

  toString(): string {
    return `ObjectRefGenerator(${this.taskRef.id})`;
  }
}

/** A handle on an actor: call its methods, pass it to tasks. */
export class ActorHandle {
  readonly #client: Weft | undefined;

  constructor(
    readonly id: string,
    client?: Weft,
  ) {
    this.#client = client ?? current;
  }

  /** Calls `method` with `args`; the ref of its result comes back at once.
   * Calls from one client run in the order made. */
  call<T = unknown>(method: string, ...args: unknown[]): ObjectRef<T> {
    const client = this.#client;
    if (!client) {
      throw new WeftError(`actor ${this.id} belongs to no client: connect() first`);
    }
    return client.callActor<T>(this, method, args);
  }

  /** Calls `method` as a stream: the items it emits (`tasks.emit`), read in
   * order as they come, its result ending them (an actor of
   * `maxConcurrency` 1; items travel inline, up to 1 MiB each). */
  stream<T = unknown>(method: string, ...args: unknown[]): ObjectRefGenerator<T> {
    const client = this.#client;
    if (!client) {
      throw new WeftError(`actor ${this.id} belongs to no client: connect() first`);
    }
    return client.callActorStream<T>(this, method, args);
  }

  toString(): string {
    return `ActorHandle(${this.id})`;
  }
}

/** A placement group: bundles of resources reserved as a gang, all or
 * none. Pass it as a task's or actor's `placementGroup` option. */
export class PlacementGroup {
  readonly #client: Weft;

  constructor(
    readonly id: string,
    client: Weft,
  ) {
    this.#client = client;
  }

  /** Resolves with the group once every bundle is reserved; rejects with
   * `TimeoutError`, saying why it waits, after `timeoutMs`. */
  async ready(options: { timeoutMs?: number } = {}): Promise<PlacementGroupInfo> {
    const info = await this.#client.placementGroupInfo(this, options.timeoutMs ?? 600_000);
    if (info.state !== "created") {
      throw new TimeoutError(`placement group ${this.id} is ${info.state}: ${info.pendingReason}`);
    }
    return info;
  }

  /** Whether the group is created within `timeoutMs`. */
  async wait(timeoutMs: number): Promise<boolean> {
    const info = await this.#client.placementGroupInfo(this, timeoutMs);
    return info.state === "created";
  }

  /** Its record as it is now. */
  info(): Promise<PlacementGroupInfo> {
    return this.#client.placementGroupInfo(this, 0);
  }

  /** Removes it: its actors are killed and its bundles freed; false when
   * it was removed already. */
  remove(): Promise<boolean> {
    return this.#client.removePlacementGroup(this);
  }

  toString(): string {
    return `PlacementGroup(${this.id})`;
  }
}

/** A deployed component: call its functions as tasks. */
export class Component {
  constructor(
    readonly client: Weft,
    readonly name: string,
  ) {}

  /**
   * Submits `func` (`"estimate"`, `"values.echo-string"`; camelCase names
   * work too) with `args`, typed by its WIT signature, and options after
   * them. The ref comes back at once; a wrong value throws a `TypeError`
   * naming the parameter and its type.
   */
  call<T = unknown>(func: string, ...args: unknown[]): ObjectRef<T> {
    return this.client.submit<T>(this.name, func, args);
  }

  /**
   * Submits `func` as a streaming task, as `call` does: its guest emits
   * items as it goes (`tasks.emit`), read in order from the generator
   * answered (options after the arguments, `streamBackpressure` among them).
   */
  stream<T = unknown>(func: string, ...args: unknown[]): ObjectRefGenerator<T> {
    return this.client.submitStream<T>(this.name, func, args);
  }

  /** Its callable functions' WIT names. */
  functions(): Promise<string[]> {
    return this.client.functions(this.name);
  }
}

/** `getActor`'s options. */
export interface GetActorOptions {
  /** The namespace of the name. */
  namespace?: string;
}

/** A connection to a weft cluster. */
/** One replica of a Serve deployment. */
export interface ServeReplicaInfo {
  id: string;
  host: string;
  digest: string;
  state: "starting" | "running" | "draining";
}

/** A Serve deployment as `weft serve status` shows it. */
export interface ServeDeploymentInfo {
  name: string;
  component: string | null;
  route: string | null;
  digest: string;
  target_replicas: number;
  ongoing_requests: number;
  decision: string;
  replicas: ServeReplicaInfo[];
}

/** A Serve application. */
export interface ServeAppInfo {
  name: string;
  deployments: ServeDeploymentInfo[];
}

/** Serve: applications of deployments, each a component behind a route
 * with replicas on hosts, declared as Ray Serve's config file declares them
 * (`{ applications: [{ name, deployments: [{ name, component, route,
 * num_replicas, ... }] }] }`, or one application's object). */
export class Serve {
  readonly #session: NativeSession;

  constructor(session: NativeSession) {
    this.#session = session;
  }

  /** Declares the applications of `config` (an object, or the path of a
   * YAML file) and waits up to `waitMs` (default 30 s; 0: not at all) for
   * their replicas to run. Idempotent. */
  async run(
    config: Record<string, unknown> | string,
    options: { waitMs?: number } = {},
  ): Promise<ServeAppInfo[]> {
    const text =
      typeof config === "string"
        ? await readFile(config, "utf8")
        : JSON.stringify("applications" in config ? config : { applications: [config] });
    const waitMs = options.waitMs ?? 30_000;
    const run = await settled(guard(() => this.#session.serveRun(text, waitMs)));
    if (run.waiting.length > 0 && waitMs > 0) {
      throw new TimeoutError(`after ${waitMs} ms still waiting for: ${run.waiting.join(", ")}`);
    }
    return JSON.parse(run.statuses) as ServeAppInfo[];
  }

  /** Every application (or `app`), with its deployments and replicas. */
  async status(app?: string): Promise<ServeAppInfo[]> {
    return JSON.parse(await settled(this.#session.serveStatus(app ?? ""))) as ServeAppInfo[];
  }

  /** Deletes application `app`: its routes go at once, its replicas drain. */
  delete(app: string): Promise<void> {
    return settled(this.#session.serveDelete(app));
  }

  /** A handle to `deployment` of application `app` (Ray's argument order
   * and default application name). Its calls go through a host's gateway,
   * routed to a replica as any request. */
  getDeploymentHandle(deployment: string, app = "default"): DeploymentHandle {
    return new DeploymentHandle(this.#session, app, deployment);
  }
}

/** A Serve deployment, callable from this process. */
export class DeploymentHandle {
  readonly #session: NativeSession;
  readonly app: string;
  readonly deployment: string;

  constructor(session: NativeSession, app: string, deployment: string) {
    this.#session = session;
    this.app = app;
    this.deployment = deployment;
  }

  /** Calls a streaming function deployment (`stream: true`) with `args`:
   * `for await (const value of handle.stream(...))` gives each value it
   * sends, as it comes. */
  async *stream(...args: unknown[]): AsyncGenerator<unknown, void, undefined> {
    const values = await settled(
      guard(() => this.#session.serveStream(this.app, this.deployment, JSON.stringify(args))),
    );
    for (;;) {
      const text = await settled(values.next());
      if (text === null) {
        return;
      }
      yield JSON.parse(text) as unknown;
    }
  }

  /** Calls a function deployment with `args` (JSON values): its result. */
  async remote(...args: unknown[]): Promise<unknown> {
    const text = await settled(
      guard(() => this.#session.serveCall(this.app, this.deployment, JSON.stringify(args))),
    );
    return JSON.parse(text) as unknown;
  }

  /** Sends an HTTP request to a handler deployment at `path`: its status
   * and body, whatever the status. */
  async request(
    path = "/",
    options: { method?: string; body?: Uint8Array | string } = {},
  ): Promise<{ status: number; body: Buffer }> {
    const body = Buffer.from(options.body ?? "");
    return settled(
      guard(() =>
        this.#session.serveRequest(this.app, this.deployment, options.method ?? "GET", path, body),
      ),
    );
  }
}

/** One trial of a Tune experiment. */
export interface TuneTrialInfo {
  id: string;
  index: number;
  state: "PENDING" | "RUNNING" | "TERMINATED" | "STOPPED" | "ERROR";
  config: Record<string, unknown>;
  /** Every result it reported, oldest first. */
  results: Record<string, unknown>[];
  best: number | null;
  best_iteration: number;
  failures: number;
  error: string;
  stopped_by: string;
  time_ms: number;
}

/** A Tune experiment and its trials. */
export interface TuneStatusInfo {
  id: string;
  name: string;
  state: "RUNNING" | "FINISHED" | "STOPPED" | "FAILED";
  reason: string;
  metric: string;
  mode: "max" | "min";
  seed: number;
  total_trials: number;
  best_trial: string | null;
  trials: TuneTrialInfo[];
}

/** What an experiment runs: the fields of `weft tune run`'s flags.
 * `param_space` takes the draws as one-key objects (`{ uniform: [0, 1] }`,
 * `{ grid_search: [1, 2] }`: the helpers below make them); `scheduler`
 * is `{ type: "asha", max_t, grace_period, reduction_factor }`,
 * `{ type: "median_stopping", ... }` or left out for FIFO. */
export interface TuneSpecInput {
  component: string;
  function: string;
  param_space: Record<string, unknown>;
  metric: string;
  mode?: "max" | "min";
  name?: string;
  num_samples?: number;
  max_concurrent_trials?: number;
  scheduler?: Record<string, unknown>;
  seed?: number;
  cpus?: number;
  timeout_s?: number;
  max_failures?: number;
  stop_at?: number;
  stop_iterations?: number;
  /** "random" (default) or "tpe". */
  search_alg?: "random" | "tpe";
}

const FINISHED_TUNE = ["FINISHED", "STOPPED", "FAILED"];

/** Tune: hyperparameter search run by the cluster's leader. An experiment
 * outlives this process: `fit` starts it and waits, `status` finds it
 * again by id or name. */
export class Tune {
  readonly #session: NativeSession;

  constructor(session: NativeSession) {
    this.#session = session;
  }

  /** Every value of `values`, crossed with the other grids. */
  static gridSearch(values: unknown[]): Record<string, unknown> {
    return { grid_search: values };
  }
  /** One of `values`, uniformly. */
  static choice(values: unknown[]): Record<string, unknown> {
    return { choice: values };
  }
  /** A float in `[lower, upper)`. */
  static uniform(lower: number, upper: number): Record<string, unknown> {
    return { uniform: [lower, upper] };
  }
  /** A float in `[lower, upper)`, uniform in its logarithm. */
  static loguniform(lower: number, upper: number): Record<string, unknown> {
    return { loguniform: [lower, upper] };
  }
  /** An integer in `[lower, upper)`. */
  static randint(lower: number, upper: number): Record<string, unknown> {
    return { randint: [lower, upper] };
  }

  /** Starts an experiment; its id. */
  run(spec: TuneSpecInput): Promise<string> {
    return settled(guard(() => this.#session.tuneRun(JSON.stringify(spec))));
  }

  /** Starts an experiment and waits for its end (up to `timeoutMs`). */
  async fit(spec: TuneSpecInput, options: { timeoutMs?: number } = {}): Promise<TuneStatusInfo> {
    const id = await this.run(spec);
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    let pause = 20;
    for (;;) {
      const now = await this.status(id);
      if (FINISHED_TUNE.includes(now.state)) {
        return now;
      }
      if (Date.now() >= deadline) {
        throw new TimeoutError(`experiment ${id} is still ${now.state} after ${options.timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 500);
    }
  }

  /** An experiment (by id or name) and its trials. */
  async status(id: string): Promise<TuneStatusInfo> {
    return JSON.parse(await settled(this.#session.tuneStatus(id))) as TuneStatusInfo;
  }

  /** Every experiment, newest first. */
  async list(): Promise<Record<string, unknown>[]> {
    return JSON.parse(await settled(this.#session.tuneList())) as Record<string, unknown>[];
  }

  /** Stops an experiment; its state. */
  stop(id: string): Promise<string> {
    return settled(this.#session.tuneStop(id));
  }
}

export class Weft {
  readonly #session: NativeSession;
  /** Serve applications on this cluster. */
  readonly serve: Serve;
  /** Tune experiments on this cluster. */
  readonly tune: Tune;
  readonly #held = new Map<string, number>();
  readonly #released: string[] = [];
  readonly #collected = new FinalizationRegistry<string>((id) => this.#drop(id, false));

  constructor(session: NativeSession) {
    this.#session = session;
    this.serve = new Serve(session);
    this.tune = new Tune(session);
  }

  /** The controller address (or addresses) it connected to. */
  get address(): string {
    return guard(() => this.#session.address);
  }

  /** @internal Counts a new ref to its id, let go of when collected. */
  hold(ref: ObjectRef): void {
    this.#held.set(ref.id, (this.#held.get(ref.id) ?? 0) + 1);
    this.#collected.register(ref, ref.id, ref);
  }

  /** @internal Lets go of `ref` before it is collected (once). */
  letGo(ref: ObjectRef): void {
    if (this.#collected.unregister(ref)) {
      this.#drop(ref.id, true);
    }
  }

  /** Counts one ref to `id` gone; the last releases the id: `now` when
   * asked for, else with the others a collection freed, in one call. */
  #drop(id: string, now: boolean): void {
    const left = (this.#held.get(id) ?? 1) - 1;
    if (left > 0) {
      this.#held.set(id, left);
      return;
    }
    this.#held.delete(id);
    if (now) {
      this.#release([id]);
    } else if (this.#released.push(id) === 1) {
      setImmediate(() => this.#release(this.#released.splice(0)));
    }
  }

  #release(ids: string[]): void {
    try {
      this.#session.release(ids);
    } catch {
      // Closed: the cluster frees the session's objects itself.
    }
  }

  /** Uploads a component (a path or its bytes) and waits until every host
   * has it ready. */
  async deploy(
    wasm: string | Uint8Array,
    options: { name?: string; runtimeEnv?: RuntimeEnv } = {},
  ): Promise<Component> {
    const bytes = typeof wasm === "string" ? await readFile(wasm) : wasm;
    const deployed = await settled(this.#session.deploy(bytes, options.name));
    if (options.runtimeEnv !== undefined) {
      // The component's default: each part a call leaves empty comes from it.
      await settled(guard(() => this.#session.setRuntimeEnv(deployed.digest, options.runtimeEnv!)));
    }
    return new Component(this, options.name ?? deployed.digest);
  }

  /** A deployed component by name. */
  component(name: string): Component {
    return new Component(this, name);
  }

  /** @internal */
  functions(component: string): Promise<string[]> {
    return settled(this.#session.functions(component));
  }

  /** @internal */
  submit<T>(component: string, func: string, args: unknown[]): ObjectRef<T> {
    const id = guard(() => this.#session.submit(component, witName(func), args));
    return new ObjectRef<T>(id, this);
  }

  /** @internal */
  submitStream<T>(component: string, func: string, args: unknown[]): ObjectRefGenerator<T> {
    const items = guard(() => this.#session.submitStream(component, witName(func), args));
    return new ObjectRefGenerator<T>(items, this);
  }

  /** @internal */
  callActor<T>(actor: ActorHandle, method: string, args: unknown[]): ObjectRef<T> {
    const id = guard(() => this.#session.callActor(actor.id, witName(method), args));
    return new ObjectRef<T>(id, this);
  }

  /** @internal */
  callActorStream<T>(actor: ActorHandle, method: string, args: unknown[]): ObjectRefGenerator<T> {
    const items = guard(() => this.#session.callActorStream(actor.id, witName(method), args));
    return new ObjectRefGenerator<T>(items, this);
  }

  /**
   * The value of a ref, or of each of an array of refs. Bytes come back as a
   * `Buffer`: a view of the store's memory when the object lies on this
   * machine (no copy; writing to it changes only this process's copy). A
   * failed task rejects with `TaskError` (or a subclass), a function that
   * returned a `result`'s err with `GuestError`.
   */
  get<T>(ref: ObjectRef<T>, options?: GetOptions): Promise<T>;
  get(refs: readonly ObjectRef[], options?: GetOptions): Promise<unknown[]>;
  async get(refs: ObjectRef | readonly ObjectRef[], options: GetOptions = {}): Promise<unknown> {
    const single = refs instanceof ObjectRef;
    const held: readonly ObjectRef[] = single ? [refs] : refs;
    for (const ref of held) {
      if (!(ref instanceof ObjectRef)) {
        throw new TypeError(`expected an ObjectRef, got ${typeof ref}`);
      }
      reading.set(ref.id, ref);
    }
    const ids = held.map((r) => r.id);
    let values: unknown[];
    let errs: number[];
    try {
      // Finished small results are read here and now; the rest wait.
      [values, errs] =
        guard(() => this.#session.getNow(ids)) ?? (await settled(this.#session.get(ids, options.timeoutMs)));
    } finally {
      for (const ref of held) {
        if (reading.get(ref.id) === ref) {
          reading.delete(ref.id);
        }
      }
    }
    if (errs.length > 0) {
      throw new GuestError(values[errs[0]]);
    }
    return single ? values[0] : values;
  }

  /**
   * Waits until `numReturns` of `refs` are done or `timeoutMs` passes;
   * answers `[ready, notReady]`, each in the order of `refs`.
   */
  async wait<T>(
    refs: readonly ObjectRef<T>[],
    options: WaitOptions = {},
  ): Promise<[ObjectRef<T>[], ObjectRef<T>[]]> {
    const numReturns = options.numReturns ?? 1;
    if (!Number.isInteger(numReturns) || numReturns < 0 || numReturns > refs.length) {
      throw new RangeError(`numReturns ${numReturns} is not between 0 and ${refs.length}`);
    }
    const [ready] = await settled(
      this.#session.wait(
        refs.map((r) => r.id),
        numReturns,
        options.timeoutMs,
      ),
    );
    const done = new Set(ready);
    const out: [ObjectRef<T>[], ObjectRef<T>[]] = [[], []];
    for (const ref of refs) {
      out[done.has(ref.id) && out[0].length < numReturns ? 0 : 1].push(ref);
    }
    return out;
  }

  /** Stores bytes (copied once, straight into the store's memory when a
   * host shares this machine); the ref comes back at once. */
  put(data: Uint8Array): ObjectRef<Buffer> {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`put takes a Uint8Array or Buffer, not ${typeof data}`);
    }
    const id = guard(() => this.#session.put(data));
    return new ObjectRef<Buffer>(id, this);
  }

  /** Cancels the task behind `ref`; false when it had already finished. */
  cancel(ref: ObjectRef): Promise<boolean> {
    return settled(this.#session.cancel(ref.id));
  }

  /**
   * Creates an actor of `component`'s class `cls` (a WIT resource; `""` for
   * an instance actor, whose exports are its methods) with `ctorArgs` for
   * its constructor; resolves once it is alive.
   */
  async createActor(
    component: Component | string,
    cls: string,
    ctorArgs: unknown[] = [],
    options?: ActorOptions,
  ): Promise<ActorHandle> {
    const name = typeof component === "string" ? component : component.name;
    const args = options === undefined ? ctorArgs : [...ctorArgs, options];
    const id = await settled(guard(() => this.#session.createActor(name, cls, args)));
    return new ActorHandle(id, this);
  }

  /** The live actor named `name`. */
  async getActor(name: string, options: GetActorOptions = {}): Promise<ActorHandle> {
    const id = await settled(this.#session.getActor(name, options.namespace));
    return new ActorHandle(id, this);
  }

  /** Kills an actor; false when it was already dead. */
  kill(actor: ActorHandle): Promise<boolean> {
    return settled(this.#session.killActor(actor.id));
  }

  /** The actors the cluster knows. */
  actors(): Promise<ActorInfo[]> {
    return settled(this.#session.actors());
  }

  /**
   * Asks for a placement group of `bundles` (`{ cpus, gpus, memory, ...custom }`
   * each); resolves at once with its handle. `await pg.ready()` waits until
   * every bundle is reserved.
   */
  async placementGroup(
    bundles: Record<string, number>[],
    options: PlacementGroupOptions = {},
  ): Promise<PlacementGroup> {
    const info = await settled(
      guard(() =>
        this.#session.createPlacementGroup(
          bundles,
          options.strategy ?? "PACK",
          options.name,
          options.namespace,
          options.lifetime === "detached",
        ),
      ),
    );
    return new PlacementGroup(info.id, this);
  }

  /** A group's record, waiting up to `waitMs` for it to be created. */
  placementGroupInfo(group: PlacementGroup | string, waitMs = 0): Promise<PlacementGroupInfo> {
    const id = typeof group === "string" ? group : group.id;
    return settled(this.#session.placementGroup(id, waitMs));
  }

  /** Every placement group the cluster knows, removed ones too. */
  placementGroups(): Promise<PlacementGroupInfo[]> {
    return settled(this.#session.placementGroups());
  }

  /** Removes a placement group; false when it was removed already. */
  removePlacementGroup(group: PlacementGroup | string): Promise<boolean> {
    const id = typeof group === "string" ? group : group.id;
    return settled(this.#session.removePlacementGroup(id));
  }

  /** The cluster's hosts. */
  nodes(): Promise<NodeInfo[]> {
    return settled(this.#session.nodes());
  }

  /** The cluster's objects, newest first (like `ray list objects`): owner,
   * size, where each copy lies and in what state, refs. */
  objects(options: { limit?: number } = {}): Promise<ObjectInfo[]> {
    return settled(this.#session.objects(options.limit));
  }

  /** The lines a task's guest printed (the last `tail` of them). */
  logs(task: ObjectRef | string, options: { tail?: number } = {}): Promise<string[]> {
    const id = typeof task === "string" ? task : task.id;
    return settled(this.#session.logs(id, options.tail));
  }

  /** Lets go of the connection; its objects are freed. */
  close(): void {
    this.#session.close();
    if (current === this) {
      current = undefined;
    }
  }
}

const witNames = new Map<string, string>();

/** `echoString` as `echo-string`; WIT names pass unchanged. */
function witName(name: string): string {
  let wit = witNames.get(name);
  if (wit === undefined) {
    wit = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    witNames.set(name, wit);
  }
  return wit;
}

native.registerClasses(
  ObjectRef,
  (id: string, container: string) => new ObjectRef(id, current, reading.get(container)),
  ActorHandle,
  (id: string) => new ActorHandle(id, current),
);

/**
 * Connects to a cluster: `address` is `host:port`, or several controller
 * replicas comma-separated (`WEFT_ADDRESS`, else `127.0.0.1:7077`, by
 * default).
 */
export async function connect(address?: string): Promise<Weft> {
  const where = address ?? process.env.WEFT_ADDRESS ?? DEFAULT_ADDRESS;
  const session = await settled(native.connect(where));
  current = new Weft(session);
  return current;
}
