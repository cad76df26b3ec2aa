"""Watching the event loop: stalls and where they come from, and logging that never blocks it.

- `watch_loop` starts a watchdog thread that notices when the loop has run nothing for longer
  than a threshold, and captures the loop thread's stack at that moment: each `Stall` names
  the function, file and line that blocked, and how long it lasted;
- `queue_logging` moves a logger's handlers behind a bounded queue and a thread of their own,
  so a slow handler (a file on a busy disk, a network handler) never blocks the loop.

Standard library only::

    watch = sluice.observe.watch_loop(threshold=0.1)      # inside the running loop
    await serve()
    watch.stop()                                          # or: async with watch_loop(...)

`sluice.testing.no_stalls` fails a test whose loop blocks (see docs/observe.md).
"""

from ._logging import QueuedLogging, queue_logging
from ._records import LoopWatchStatistics, Stall
from ._watch import LoopWatch, watch_loop

__all__ = [
    "LoopWatch",
    "LoopWatchStatistics",
    "QueuedLogging",
    "Stall",
    "queue_logging",
    "watch_loop",
]

# Tracebacks and reprs show the public path (sluice.observe.Stall), not the private module.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
