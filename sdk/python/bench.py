"""The shapes of ``ray microbenchmark``, from Python, on weft and on Ray in
one run, with the ratio per row.

    python sdk/python/bench.py [--seconds 2] [--guests DIR] [--no-ray]

weft runs a local cluster (``weft.init()``: the ``weft`` binary on PATH or
in WEFT_BIN) with the test guests; Ray, when installed, runs ``ray.init()``
with the same work written as Python functions and actors. Timings are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def rate(body: Callable[[], int], seconds: float) -> float:
    """Operations per second of ``body`` (which returns how many it did),
    run repeatedly for about ``seconds`` after one warm-up call."""
    body()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += body()
    return done / (time.perf_counter() - start)


def gb_per_s(body: Callable[[], None], nbytes: int, seconds: float) -> float:
    body()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        body()
        n += 1
    return n * nbytes / (time.perf_counter() - start) / 1e9


Row = Tuple[str, float, str]


def rows(
    get: Callable[[Any], Any],
    put: Callable[[Any], Any],
    add: Callable[[], Any],
    incr: Callable[[], Any],
    first: float,
    seconds: float,
    array: Any,
) -> List[Row]:
    """The microbenchmark's rows for one system: ``add()`` submits a task,
    ``incr()`` calls an actor, both returning refs."""
    small = put(b"x" * 100)
    return [
        ("single client tasks sync", rate(lambda: (get(add()), 1)[1], seconds), "/s"),
        ("single client tasks async", rate(lambda: len(get([add() for _ in range(1000)])), seconds), "/s"),
        ("1:1 actor calls sync", rate(lambda: (get(incr()), 1)[1], seconds), "/s"),
        ("1:1 actor calls async", rate(lambda: len(get([incr() for _ in range(1000)])), seconds), "/s"),
        ("single client put calls", rate(lambda: (put(b"x" * 100), 1)[1], seconds), "/s"),
        ("single client get calls", rate(lambda: (get(small), 1)[1], seconds), "/s"),
        ("single client put 100 MB", gb_per_s(lambda: (put(array), None)[1], array.nbytes, seconds), "GB/s"),
        ("init to first result", first, "s"),
    ]


def weft_rows(guests: Path, seconds: float, array: Any) -> List[Row]:
    import weft

    start = time.perf_counter()
    weft.init()
    kit = weft.deploy(str(guests / "weft_testkit.wasm"), name="testkit")
    weft.deploy(str(guests / "example_counter.wasm"), name="counter")
    weft.get(kit.add.remote(1, 1))
    first = time.perf_counter() - start
    counter = weft.actor_class("counter", "counter").remote(0)
    out = rows(
        weft.get, weft.put, lambda: kit.add.remote(1, 1), lambda: counter.incr.remote(), first, seconds, array
    )
    weft.kill(counter)
    weft.shutdown()
    return out


def ray_rows(seconds: float, array: Any) -> Optional[List[Row]]:
    try:
        import ray
    except ImportError:
        return None

    start = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)

    @ray.remote
    def add(a: int, b: int) -> int:
        return a + b

    @ray.remote
    class Counter:
        def __init__(self, start: int) -> None:
            self.n = start

        def incr(self) -> int:
            self.n += 1
            return self.n

    ray.get(add.remote(1, 1))
    first = time.perf_counter() - start
    counter = Counter.remote(0)  # type: ignore[attr-defined]
    out = rows(ray.get, ray.put, lambda: add.remote(1, 1), lambda: counter.incr.remote(), first, seconds, array)
    ray.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per row")
    parser.add_argument(
        "--guests",
        type=Path,
        default=Path(os.environ.get("WEFT_GUESTS", ROOT / "target/guests/wasm32-wasip2/release")),
    )
    parser.add_argument("--no-ray", action="store_true", help="run weft only")
    args = parser.parse_args()

    array = np.random.default_rng(1).integers(0, 255, size=100_000_000, dtype=np.uint8)
    # The baseline for the put rows: copying the same array into memory
    # already faulted in, in this process.
    target = np.empty_like(array)
    np.copyto(target, array)
    warm = gb_per_s(lambda: np.copyto(target, array), array.nbytes, args.seconds)
    del target
    ours = weft_rows(args.guests, args.seconds, array)
    theirs = None if args.no_ray else ray_rows(args.seconds, array)
    if theirs is None and not args.no_ray:
        print("(Ray is not installed: pip install ray, to compare)")
    by_name: Dict[str, float] = {name: value for name, value, _ in theirs or []}
    print(f"{'benchmark':<28}{'weft':>14}{'Ray':>14}{'weft/Ray':>10}")
    for name, value, unit in ours:
        other = by_name.get(name)
        if other is None:
            print(f"{name:<28}{value:>12,.2f} {unit:<4}")
            continue
        # Lower is better for a time; higher for a rate.
        ratio = other / value if unit == "s" else value / other
        print(f"{name:<28}{value:>12,.2f} {unit:<4}{other:>10,.2f} {unit:<4}{ratio:>7.2f}x")
    print(f"{'memcpy 100 MB (warm)':<28}{warm:>12,.2f} GB/s (a copy into pages already in memory, the put rows' baseline)")
    puts = [(who, value) for who, got in (("weft", ours), ("Ray", theirs or [])) for name, value, _ in got if name == "single client put 100 MB"]
    print("put 100 MB against a warm copy: " + ", ".join(f"{who} {value / warm:.0%}" for who, value in puts))


if __name__ == "__main__":
    main()
