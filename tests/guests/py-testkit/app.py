"""The Python test guest (world `py-testkit`)."""

from typing import List, Optional, Tuple

import wit_world
from wit_world import exports
from wit_world.exports import values as v
from componentize_py_types import Err, Ok, Result

from weft_guest import awaits, log, objects, tasks


class Values(exports.Values):
    def echo_bool(self, x: bool) -> bool:
        return x

    def echo_numbers(
        self, a: int, b: int, c: int, d: int, e: int, f: float, g: float
    ) -> Tuple[int, int, int, int, int, float, float]:
        return (a, b, c, d, e, f, g)

    def echo_char(self, x: str) -> str:
        return x

    def echo_string(self, x: str) -> str:
        return x

    def echo_bytes(self, x: bytes) -> bytes:
        return x

    def echo_strings(self, x: List[str]) -> List[str]:
        return x

    def echo_point(self, x: v.Point) -> v.Point:
        return x

    def echo_shape(self, x: v.Shape) -> v.Shape:
        return x

    def echo_color(self, x: v.Color) -> v.Color:
        return x

    def echo_perms(self, x: v.Perms) -> v.Perms:
        return x

    def echo_option(self, x: Optional[int]) -> Optional[int]:
        return x

    def echo_result(self, x: Result[str, int]) -> str:
        # A `result` export returns its ok value and raises Err for err.
        if isinstance(x, Err):
            raise x
        return x.value

    def echo_tuple(self, x: Tuple[int, str, bool]) -> Tuple[int, str, bool]:
        return x

    def echo_nested(self, x: List[Optional[v.Point]]) -> List[Optional[v.Point]]:
        return x


_tallies = 0
_in_flight = 0
_peak = 0


class WitWorld(wit_world.WitWorld):
    def add(self, a: int, b: int) -> int:
        return a + b

    def tally(self) -> int:
        global _tallies
        _tallies += 1
        return _tallies

    def boom(self) -> str:
        def inner() -> str:
            raise ValueError("boom")

        return inner()

    def sum_of_adds(self, component: str, n: int) -> int:
        refs = [tasks.submit(component, "add", i, i) for i in range(n)]
        tasks.wait(refs, len(refs))
        total = sum(tasks.get(r) for r in refs)
        log.info(f"sum of {n} adds: {total}")
        return total

    def placed_add(self, component: str, node: str) -> int:
        return tasks.get(tasks.submit(component, "add", 1, 2, node=node))

    def sum_of_squares(self, component: str, n: int) -> int:
        stream = tasks.submit(component, "squares", n, stream=4)
        return sum(tasks.get(item) for item in tasks.items(stream))

    async def nap(self, ms: int) -> int:
        global _in_flight, _peak
        _in_flight += 1
        _peak = max(_peak, _in_flight)
        try:
            await awaits.sleep(ms / 1000)
        finally:
            _in_flight -= 1
        return ms

    async def peak(self) -> int:
        return _peak

    def squares(self, n: int) -> int:
        return tasks.emit_all(i * i for i in range(n))

    def store_and_read(self, data: bytes) -> bytes:
        ref = objects.put(data)
        assert objects.size(ref) == len(data)
        return objects.get(ref)
