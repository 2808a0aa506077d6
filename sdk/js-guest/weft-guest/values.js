// weft's binary encoding of component values (docs/VALUES.md), in plain
// JavaScript: what tasks and actor calls carry.
//
// `encode` writes a value as it is: an integral number or a BigInt as
// `s64` (`u64` past its range), another number as `f64`, a string as
// `string`, a Uint8Array as `list<u8>`, an array as a list, a plain object
// as a record (`camelCase` keys as `kebab-case` fields), null or undefined
// as an absent option. The host that runs the callee conforms each to the
// parameter's type: an integer to the width it has, an object of one key
// to a variant's case, a string to an enum, `{id}` to a ref or actor.
//
// `decode` reads a value back in weft's JSON mapping: records as objects,
// variants as `{case: payload}` (`'case'` without one), enums as strings,
// options as the value or null, results as `{ok}` or `{err}`, refs as
// `{id}`, `list<u8>` as a Uint8Array, 64-bit integers as numbers where
// they are safe and BigInts where they are not.

const VERSION = 1;
const T = {
  bool: 0x01, s8: 0x02, u8: 0x03, s16: 0x04, u16: 0x05, s32: 0x06, u32: 0x07,
  s64: 0x08, u64: 0x09, f32: 0x0a, f64: 0x0b, char: 0x0c, string: 0x0d,
  bytes: 0x0e, list: 0x0f, record: 0x10, tuple: 0x11, variant: 0x12,
  enum: 0x13, option: 0x14, result: 0x15, flags: 0x16, objectRef: 0x17, actor: 0x18,
};

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

class Writer {
  constructor() {
    this.buf = new Uint8Array(64);
    this.len = 0;
  }

  room(n) {
    if (this.len + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  byte(b) {
    this.room(1);
    this.buf[this.len++] = b;
  }

  bytes(data) {
    this.room(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  uvarint(n) {
    let v = BigInt(n);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v) b |= 0x80;
      this.byte(b);
    } while (v);
  }

  name(s) {
    const data = utf8.encode(s);
    this.uvarint(data.length);
    this.bytes(data);
  }

  fixed(tag, size, set) {
    this.byte(tag);
    this.room(size);
    set(new DataView(this.buf.buffer, this.len, size));
    this.len += size;
  }
}

const kebab = (k) => k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
const S64_MIN = -(1n << 63n);
const U64_END = 1n << 64n;

function write(w, value, isRef) {
  if (value === null || value === undefined) {
    w.byte(T.option);
    w.byte(0);
  } else if (typeof value === 'boolean') {
    w.byte(T.bool);
    w.byte(value ? 1 : 0);
  } else if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))) {
    const n = BigInt(value);
    if (n >= S64_MIN && n < -S64_MIN) w.fixed(T.s64, 8, (d) => d.setBigInt64(0, n, true));
    else if (n >= 0n && n < U64_END) w.fixed(T.u64, 8, (d) => d.setBigUint64(0, n, true));
    else throw new RangeError(`${n} does not fit in 64 bits`);
  } else if (typeof value === 'number') {
    w.fixed(T.f64, 8, (d) => d.setFloat64(0, value, true));
  } else if (typeof value === 'string') {
    w.byte(T.string);
    w.name(value);
  } else if (value instanceof Uint8Array) {
    w.byte(T.bytes);
    w.uvarint(value.length);
    w.bytes(value);
  } else if (isRef(value)) {
    w.byte(T.objectRef);
    w.name(value.id);
  } else if (Array.isArray(value) || value instanceof Set) {
    const items = [...value];
    w.byte(T.list);
    w.uvarint(items.length);
    for (const item of items) write(w, item, isRef);
  } else if (typeof value === 'object') {
    const fields = Object.entries(value);
    w.byte(T.record);
    w.uvarint(fields.length);
    for (const [k, v] of fields) {
      w.name(kebab(k));
      write(w, v, isRef);
    }
  } else {
    throw new TypeError(`a ${typeof value} has no component value form`);
  }
}

/** `value` in the binary encoding; `isRef` tells object refs apart. */
export function encode(value, isRef = () => false) {
  const w = new Writer();
  w.byte(VERSION);
  write(w, value, isRef);
  return w.buf.slice(0, w.len);
}

class Reader {
  constructor(data) {
    this.data = data;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.at = 0;
  }

  need(n) {
    if (this.at + n > this.data.length) {
      throw new RangeError(`truncated value: needed ${n} byte(s) at offset ${this.at}`);
    }
  }

  byte() {
    this.need(1);
    return this.data[this.at++];
  }

  flag() {
    const b = this.byte();
    if (b > 1) throw new RangeError(`flag byte ${b} at offset ${this.at - 1}`);
    return b === 1;
  }

  uvarint() {
    let n = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      n |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return Number(n);
      shift += 7n;
      if (shift > 63n) throw new RangeError('varint longer than 64 bits');
    }
  }

  take(n) {
    this.need(n);
    const piece = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return piece;
  }

  name() {
    return fromUtf8.decode(this.take(this.uvarint()));
  }

  fixed(size, get) {
    this.need(size);
    const v = get(this.view, this.at);
    this.at += size;
    return v;
  }
}

const safe = (n) => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n);
const float = (f) => (Number.isNaN(f) ? 'NaN' : Number.isFinite(f) ? f : f > 0 ? 'inf' : '-inf');

function read(r, depth) {
  if (depth > 128) throw new RangeError('value nests deeper than 128 levels');
  const tag = r.byte();
  switch (tag) {
    case T.bool: return r.flag();
    case T.s8: return r.fixed(1, (v, at) => v.getInt8(at));
    case T.u8: return r.fixed(1, (v, at) => v.getUint8(at));
    case T.s16: return r.fixed(2, (v, at) => v.getInt16(at, true));
    case T.u16: return r.fixed(2, (v, at) => v.getUint16(at, true));
    case T.s32: return r.fixed(4, (v, at) => v.getInt32(at, true));
    case T.u32: return r.fixed(4, (v, at) => v.getUint32(at, true));
    case T.s64: return safe(r.fixed(8, (v, at) => v.getBigInt64(at, true)));
    case T.u64: return safe(r.fixed(8, (v, at) => v.getBigUint64(at, true)));
    case T.f32: return float(r.fixed(4, (v, at) => v.getFloat32(at, true)));
    case T.f64: return float(r.fixed(8, (v, at) => v.getFloat64(at, true)));
    case T.char: return String.fromCodePoint(r.fixed(4, (v, at) => v.getUint32(at, true)));
    case T.string: return r.name();
    case T.bytes: return r.take(r.uvarint()).slice();
    case T.list:
    case T.tuple: {
      const n = r.uvarint();
      const items = [];
      for (let i = 0; i < n; i++) items.push(read(r, depth + 1));
      return items;
    }
    case T.record: {
      const n = r.uvarint();
      const fields = {};
      for (let i = 0; i < n; i++) {
        const k = r.name();
        fields[k] = read(r, depth + 1);
      }
      return fields;
    }
    case T.variant: {
      const c = r.name();
      return r.flag() ? { [c]: read(r, depth + 1) } : c;
    }
    case T.enum: return r.name();
    case T.option: return r.flag() ? read(r, depth + 1) : null;
    case T.result: {
      const side = r.flag() ? 'err' : 'ok';
      return { [side]: r.flag() ? read(r, depth + 1) : null };
    }
    case T.flags: {
      const n = r.uvarint();
      const names = [];
      for (let i = 0; i < n; i++) names.push(r.name());
      return names;
    }
    case T.objectRef:
    case T.actor: return { id: r.name() };
    default: throw new RangeError(`unknown value tag 0x${tag.toString(16)} at offset ${r.at - 1}`);
  }
}

/** An encoded value as JavaScript (see the module's comment). */
export function decode(data) {
  const r = new Reader(data);
  const version = r.byte();
  if (version !== VERSION) throw new RangeError(`value encoding version ${version} is not supported`);
  const value = read(r, 0);
  if (r.at !== data.length) throw new RangeError(`${data.length - r.at} trailing byte(s) after the value`);
  return value;
}
