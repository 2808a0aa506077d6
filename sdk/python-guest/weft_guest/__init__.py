"""weft's runtime for Python guests: tasks, objects, actors and logging
from inside a component built with componentize-py (``weft build``).

    from weft_guest import tasks, objects, log

    ref = tasks.submit("pi", "estimate", 100_000, 7)
    log.info(f"pi is about {tasks.get(ref)}")

Values are plain Python values, converted by the callee's WIT types on the
host (as in weft's Python client SDK). The world must import the
``weft:runtime`` interfaces a module uses (``tasks``, ``objects``,
``actors``, ``log``); their bindings load with the app.
"""

from . import actors, awaits, log, objects, tasks
from ._common import ObjectRef, WeftError

__all__ = ["ObjectRef", "WeftError", "actors", "awaits", "log", "objects", "tasks"]
