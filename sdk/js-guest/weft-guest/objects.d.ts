import type { ObjectRef } from './common.js';

export function put(data: Uint8Array | string): ObjectRef;
export function get(ref: ObjectRef): Uint8Array;
export function getRange(ref: ObjectRef, offset: number, length: number): Uint8Array;
export function size(ref: ObjectRef): number;
