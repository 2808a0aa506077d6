"""The polyglot driver: Rust estimates, JavaScript statistics, Python glue.

How to run (from the repository root, with `weft up` running):

    examples/polyglot/run
"""

from typing import List

import wit_world
from wit_world import Summary

from weft_guest import log, tasks


class WitWorld(wit_world.WitWorld):
    def run(self, pi: str, stats: str, parts: int, samples: int) -> Summary:
        estimates = [tasks.submit(pi, "estimate", samples, seed) for seed in range(parts)]
        # Each JavaScript task takes a Rust task's result by ref: it runs
        # once that result exists, and gets its value.
        notes = [tasks.submit(stats, "describe", ref) for ref in estimates]
        values: List[float] = [tasks.get(ref) for ref in estimates]
        mean, stddev = tasks.get(tasks.submit(stats, "spread", values))
        log.info(f"{parts} estimates of pi: mean {mean}, stddev {stddev}")
        return Summary(mean=mean, stddev=stddev, notes=[tasks.get(ref) for ref in notes])
