"""Watching the event loop: stalls and where they come from, and logging that never blocks it.

- `watch_loop` starts a watchdog thread that notices when the loop has run nothing for longer
  than a threshold, and captures the loop thread's stack at that moment: each `Stall` names
  the function, file and line that blocked, and how long it lasted;
- `queue_logging` moves a logger's handlers behind a bounded queue and a thread of their own,
  so a slow handler (a file on a busy disk, a network handler) never blocks the loop;
- `register_metrics` exports every gate's statistics to Prometheus at scrape time, and
  `LoopLagMonitor` the loop's lag as a histogram (extra ``metrics``: prometheus_client, which
  is imported only when one of them is made).

The watchdog and the logging are standard library only::

    watch = sluice.observe.watch_loop(threshold=0.1)      # inside the running loop
    await serve()
    watch.stop()                                          # or: async with watch_loop(...)

`sluice.testing.no_stalls` fails a test whose loop blocks (see docs/observe.md).
"""

from ._logging import QueuedLogging, queue_logging
from ._loop_lag import LoopLagMonitor, loop_lag_histogram
from ._prometheus import GateCollector, register_metrics, unregister_metrics
from ._records import LoopWatchStatistics, Stall
from ._watch import LoopWatch, watch_loop

__all__ = [
    "GateCollector",
    "LoopLagMonitor",
    "LoopWatch",
    "LoopWatchStatistics",
    "QueuedLogging",
    "Stall",
    "loop_lag_histogram",
    "queue_logging",
    "register_metrics",
    "unregister_metrics",
    "watch_loop",
]

# Tracebacks and reprs show the public path (sluice.observe.Stall), not the private module.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
