"""Put a NumPy array in the object store and read it back without a copy,
then hand it to a task by ref.

    python examples/python/numpy_objects.py [path/to/weft_testkit.wasm]
"""

from __future__ import annotations

import sys
import time

import numpy as np

import weft


def main(wasm: str) -> None:
    weft.init()
    array = np.arange(25 << 20, dtype=np.uint32)  # 100 MiB
    start = time.perf_counter()
    ref = weft.put(array)
    put_s = time.perf_counter() - start
    start = time.perf_counter()
    back = np.frombuffer(weft.get(ref), dtype=np.uint32)  # a view over shared memory
    get_s = time.perf_counter() - start
    assert np.array_equal(back, array)
    print(f"put 100 MiB in {put_s * 1000:.1f} ms, read it back in place in {get_s * 1000:.2f} ms")

    kit = weft.deploy(wasm, name="testkit")
    # An object-ref parameter gets the ref; the guest reads the bytes itself.
    checksum: int = weft.get(kit.checksum.remote(ref))
    print(f"the guest's checksum of the array: {checksum:#018x}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/guests/wasm32-wasip2/release/weft_testkit.wasm")
