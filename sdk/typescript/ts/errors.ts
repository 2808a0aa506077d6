// The errors a user catches. The addon throws plain Errors carrying a
// small JSON envelope (`{"weft": class, message, kind, taskId}`);
// `translate` makes them instances of these classes.

/** Anything weft refuses or fails at. */
export class WeftError extends Error {
  override name = "WeftError";
}

/** A task or actor call that failed: `kind` says how (`trap`, `timeout`,
 * `canceled`, `host-lost`, ...), `taskId` which one. */
export class TaskError extends WeftError {
  override name = "TaskError";
  constructor(
    message: string,
    readonly kind: string,
    readonly taskId: string,
  ) {
    super(message);
  }
}

/** The actor died (killed, or out of restarts) before answering. */
export class ActorDiedError extends TaskError {
  override name = "ActorDiedError";
}

/** The object is gone: every copy was lost and it cannot be rebuilt. */
export class ObjectLostError extends TaskError {
  override name = "ObjectLostError";
}

/** The task was canceled. */
export class TaskCancelledError extends TaskError {
  override name = "TaskCancelledError";
}

/** A `get` or `wait` ran out of time. */
export class TimeoutError extends WeftError {
  override name = "TimeoutError";
}

/** No controller could be reached. */
export class WeftConnectionError extends WeftError {
  override name = "WeftConnectionError";
}

/** The function returned a `result`'s err: `value` is the err value. */
export class GuestError extends WeftError {
  override name = "GuestError";
  constructor(readonly value: unknown) {
    super(`the function returned an error: ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(value);
  } catch {
    return String(value);
  }
}

interface Envelope {
  weft: string;
  message: string;
  kind: string;
  taskId: string;
}

function envelope(error: unknown): Envelope | undefined {
  if (!(error instanceof Error) || !error.message.startsWith('{"')) {
    return undefined;
  }
  try {
    const parsed = JSON.parse(error.message) as Partial<Envelope>;
    return typeof parsed.weft === "string" ? (parsed as Envelope) : undefined;
  } catch {
    return undefined;
  }
}

/** The error the addon threw as the class a user catches. */
export function translate(error: unknown): unknown {
  const e = envelope(error);
  if (!e) {
    return error;
  }
  switch (e.weft) {
    case "TypeError":
      return new TypeError(e.message);
    case "TaskError":
      return new TaskError(e.message, e.kind, e.taskId);
    case "ActorDiedError":
      return new ActorDiedError(e.message, e.kind, e.taskId);
    case "ObjectLostError":
      return new ObjectLostError(e.message, e.kind, e.taskId);
    case "TaskCancelledError":
      return new TaskCancelledError(e.message, e.kind, e.taskId);
    case "TimeoutError":
      return new TimeoutError(e.message);
    case "WeftConnectionError":
      return new WeftConnectionError(e.message);
    default:
      return new WeftError(e.message);
  }
}

/** `f()`, with the addon's errors translated. */
export function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw translate(error);
  }
}

/** `promise`, rejecting with the addon's errors translated. */
export function settled<T>(promise: Promise<T>): Promise<T> {
  return promise.catch((error: unknown) => {
    throw translate(error);
  });
}
