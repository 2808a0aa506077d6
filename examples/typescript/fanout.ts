// Fan out: estimate pi with many tasks at once across the cluster, then
// keep a running total in an actor. Run against a cluster that has the
// `pi` and `counter` examples deployed (see README.md):
//
//   node fanout.js [tasks] [samples]
import { connect, type ObjectRef } from "@weft/client";

const tasks = Number(process.argv[2] ?? 32);
const samples = Number(process.argv[3] ?? 200_000);

const weft = await connect();
try {
  const pi = weft.component("pi");
  const refs: ObjectRef<number>[] = [];
  for (let seed = 0; seed < tasks; seed++) {
    refs.push(pi.call<number>("estimate", samples, seed, { maxRetries: 3 }));
  }

  // Take the first half as they finish, then the rest.
  const [first, rest] = await weft.wait(refs, { numReturns: Math.ceil(tasks / 2) });
  const estimates = [...(await weft.get(first)), ...(await weft.get(rest))] as number[];
  const mean = estimates.reduce((a, b) => a + b, 0) / estimates.length;

  const counter = await weft.createActor("counter", "counter", [0n]);
  for (const _ of estimates) {
    counter.call("incr");
  }
  const counted = await counter.call<bigint>("get");
  await weft.kill(counter);

  console.log(`pi is about ${mean.toFixed(4)} (${counted} estimates of ${samples} samples)`);
} finally {
  weft.close();
}
