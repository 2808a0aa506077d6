/** `value` in weft's binary encoding (docs/VALUES.md); `isRef` tells object refs apart. */
export function encode(value: unknown, isRef?: (value: unknown) => boolean): Uint8Array;
/** An encoded value in weft's JSON mapping (`list<u8>` as a Uint8Array). */
export function decode(data: Uint8Array): unknown;
