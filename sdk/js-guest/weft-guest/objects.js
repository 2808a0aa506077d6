// The object store: immutable byte objects shared between tasks.
import * as raw from 'weft:runtime/objects@0.2.0';
import { call, remember } from './common.js';

/** Stores `data` (a Uint8Array or a string, as UTF-8); returns its ref. */
export function put(data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return remember(call(raw.put, bytes));
}

/** An object's bytes (waiting for a task's result). */
export function get(ref) {
  return call(raw.get, ref);
}

/** `length` bytes of an object from `offset` (fewer at its end). */
export function getRange(ref, offset, length) {
  return call(raw.getRange, ref, BigInt(offset), BigInt(length));
}

/** An object's size in bytes. */
export function size(ref) {
  return Number(call(raw.size, ref));
}
