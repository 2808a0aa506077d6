/** A ref to a task's result or a stored object. */
export interface ObjectRef {
  id: string;
}

/** A failed `weft:runtime` call; `kind` is the WIT error's case. */
export declare class WeftError extends Error {
  kind: 'unsupported' | 'not-found' | 'invalid-argument' | 'timeout' | 'trapped' | 'resource-exhausted' | 'other';
}
