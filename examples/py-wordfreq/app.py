"""Word frequencies in parallel: `top-words` splits the text into ranges,
submits a `count-range` task per range, and merges their counts.

How to run (from the repository root, with `weft up` running):

    weft build examples/py-wordfreq
    weft deploy examples/py-wordfreq/py-wordfreq.wasm --name py-wordfreq
    weft put README.md                       # prints a ref, e.g. 3f9a...-1
    weft call py-wordfreq 'top-words("py-wordfreq", {id: "REF"}, 4, 10)'
"""

from collections import Counter
from typing import List, Tuple

import wit_world
from wit_world.imports.types import ObjectRef

from weft_guest import log, objects, tasks

# A word that crosses a range's end is read this far into the next range.
OVERLAP = 1024


class WitWorld(wit_world.WitWorld):
    def top_words(self, component: str, text: ObjectRef, chunks: int, top: int) -> List[Tuple[str, int]]:
        size = objects.size(text)
        chunks = max(1, min(chunks, size or 1))
        bounds = [size * i // chunks for i in range(chunks + 1)]
        refs = [
            tasks.submit(component, "count-range", text, bounds[i], bounds[i + 1])
            for i in range(chunks)
        ]
        total: Counter = Counter()
        for ref in refs:
            total.update({word: count for word, count in tasks.get(ref)})
        log.info(f"counted {sum(total.values())} words of {size} bytes in {chunks} tasks")
        # Most frequent first, ties alphabetically (and no `heapq`: a
        # component imports its modules when it is built, not when called).
        return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:top]

    def count_range(self, text: ObjectRef, start: int, end: int) -> List[Tuple[str, int]]:
        begin = max(0, start - 1)
        data = objects.get_range(text, begin, end - begin + OVERLAP)
        words: Counter = Counter()
        at = start - begin
        # A word already under way at `start` belongs to the range before.
        if start > 0 and not data[at - 1 : at].isspace():
            while at < len(data) and not data[at : at + 1].isspace():
                at += 1
        limit = end - begin
        while at < limit:
            while at < len(data) and data[at : at + 1].isspace():
                at += 1
            if at >= limit:
                break
            first = at
            while at < len(data) and not data[at : at + 1].isspace():
                at += 1
            word = data[first:at].decode("utf-8", "replace").strip(".,;:!?()[]{}\"'`*#").lower()
            if word:
                words[word] += 1
        return list(words.items())
