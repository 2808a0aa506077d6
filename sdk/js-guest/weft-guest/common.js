// What the modules share: refs, errors, the WAVE form of values.

/** A `weft:runtime` call failed; `kind` is the WIT error's case. */
export class WeftError extends Error {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.name = 'WeftError';
    this.kind = kind;
  }
}

// Refs this module made (from submit, put, actor calls): passed by ref.
const refs = new WeakSet();

/** Marks `ref` as an object ref, so an argument passes it by ref. */
export function remember(ref) {
  refs.add(ref);
  return ref;
}

/** Whether `value` is a ref this module made. */
export function isRef(value) {
  return typeof value === 'object' && value !== null && refs.has(value);
}

/** Calls a binding, throwing its WIT `error` as a WeftError. */
export function call(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    const p = e && typeof e === 'object' && 'payload' in e ? e.payload : e;
    if (p && typeof p === 'object' && 'tag' in p) {
      throw new WeftError(p.tag, String(p.val));
    }
    throw e;
  }
}

/** Seconds as an `option<u64>` of milliseconds. */
export function millis(seconds) {
  return seconds === undefined || seconds === null ? undefined : BigInt(Math.max(0, Math.round(seconds * 1000)));
}

function waveString(s) {
  let out = '"';
  for (const c of s) {
    const code = c.codePointAt(0);
    if (c === '"' || c === '\\') out += '\\' + c;
    else if (c === '\n') out += '\\n';
    else if (c === '\t') out += '\\t';
    else if (c === '\r') out += '\\r';
    else if (code < 0x20) out += `\\u{${code.toString(16)}}`;
    else out += c;
  }
  return out + '"';
}

/** A value as WAVE text (for actor calls): typed by the method on the host. */
export function toWave(value) {
  if (value === undefined || value === null) return 'none';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
    return String(value);
  }
  if (typeof value === 'string') return waveString(value);
  if (value instanceof Uint8Array) return `[${Array.from(value).join(', ')}]`;
  if (Array.isArray(value)) return `[${value.map(toWave).join(', ')}]`;
  if (typeof value === 'object') {
    const fields = Object.entries(value).map(
      ([k, v]) => `${k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase())}: ${toWave(v)}`,
    );
    return `{${fields.join(', ')}}`;
  }
  throw new TypeError(`${typeof value} has no WAVE form`);
}
