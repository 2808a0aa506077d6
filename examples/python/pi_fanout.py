"""Fan out Monte Carlo estimates of pi as tasks and average them.

    python examples/python/pi_fanout.py [path/to/example_pi.wasm]

Without WEFT_ADDRESS this starts a local cluster (the `weft` binary on PATH
or in WEFT_BIN) and stops it on exit.
"""

from __future__ import annotations

import sys
import time
from typing import List

import weft


def main(wasm: str) -> float:
    weft.init()
    pi = weft.deploy(wasm, name="pi")
    start = time.perf_counter()
    refs: List[weft.ObjectRef] = [pi.estimate.remote(1_000_000, seed) for seed in range(32)]
    estimates: List[float] = weft.get(refs)
    mean = sum(estimates) / len(estimates)
    took = time.perf_counter() - start
    print(f"pi is about {mean:.5f} ({len(refs)} tasks of 1,000,000 samples in {took:.2f} s)")
    return mean


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/wasm32-wasip2/release/example_pi.wasm")
