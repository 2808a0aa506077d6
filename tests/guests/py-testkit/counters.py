"""The `counters` interface's resource: a Python actor."""

from wit_world.exports import counters


class Counter(counters.Counter):
    def __init__(self, start: int) -> None:
        self.n = start

    def incr(self) -> int:
        self.n += 1
        return self.n

    def get(self) -> int:
        return self.n
