// The JavaScript test guest (world `js-testkit`).
import * as tasks from './weft-guest/tasks.js';
import * as objects from './weft-guest/objects.js';
import * as log from './weft-guest/log.js';

const same = (v) => v;

export const values = {
  echoBool: same,
  echoNumbers: (a, b, c, d, e, f, g) => [a, b, c, d, e, f, g],
  echoChar: same,
  echoString: same,
  echoBytes: same,
  echoStrings: same,
  echoPoint: same,
  echoShape: same,
  echoColor: same,
  echoPerms: same,
  echoOption: same,
  // A `result` export returns its ok value and throws its err (as the
  // thrown value's `payload`).
  echoResult: (r) => {
    if (r.tag === 'err') throw { payload: r.val };
    return r.val;
  },
  echoTuple: same,
  echoNested: same,
};

class Counter {
  constructor(start) {
    this.n = start;
  }
  incr() {
    this.n += 1n;
    return this.n;
  }
  get() {
    return this.n;
  }
}

export const counters = { Counter };

export function add(a, b) {
  return a + b;
}

let tallies = 0n;

export function tally() {
  tallies += 1n;
  return tallies;
}

function inner() {
  throw new Error('boom');
}

export function boom() {
  return inner();
}

export function sumOfAdds(component, n) {
  const refs = [];
  for (let i = 0; i < n; i++) refs.push(tasks.submit(component, 'add', i, i));
  tasks.wait(refs, refs.length);
  const total = refs.reduce((sum, r) => sum + tasks.get(r), 0);
  log.info(`sum of ${n} adds: ${total}`);
  return BigInt(total);
}

export function placedAdd(component, node) {
  return tasks.get(tasks.submitWith({ node }, component, 'add', 1, 2));
}

export function sumOfSquares(component, n) {
  const stream = tasks.submitWith({ stream: 4 }, component, 'squares', n);
  let total = 0;
  for (const item of tasks.items(stream)) total += tasks.get(item);
  return BigInt(total);
}

export function squares(n) {
  function* made() {
    for (let i = 0; i < n; i++) yield i * i;
  }
  return tasks.emitAll(made());
}

export function storeAndRead(data) {
  const ref = objects.put(data);
  if (objects.size(ref) !== data.length) throw new Error('size mismatch');
  return objects.get(ref);
}
