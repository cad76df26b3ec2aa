"""Event-loop lag for Prometheus: how late the loop wakes a task that asked to sleep.

A task sleeps ``interval`` seconds, again and again, and observes how much later than asked it
woke into the histogram ``sluice_event_loop_lag_seconds``: a loop kept busy by blocking code
or long callbacks wakes it late. Times come from the loop's own clock, so a virtual-time loop
measures virtual lag. Needs the ``metrics`` extra (``prometheus_client``).

    async with LoopLagMonitor(interval=0.5):
        await serve()            # sluice_event_loop_lag_seconds fills while this runs
    # leaving the block cancels and awaits the measuring task
"""

from __future__ import annotations

import asyncio
import math
import threading
import weakref
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._prometheus import require_client

if TYPE_CHECKING:
    from prometheus_client import Histogram
    from prometheus_client.registry import CollectorRegistry

__all__ = ["LAG_BUCKETS", "LoopLagMonitor", "loop_lag_histogram"]

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, in seconds, of the lag histogram's buckets (``+Inf`` added)."""

_HISTOGRAMS: weakref.WeakKeyDictionary[Any, Histogram] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def loop_lag_histogram(registry: CollectorRegistry | None = None) -> Histogram:
    """The ``sluice_event_loop_lag_seconds`` histogram of ``registry`` (default:
    ``prometheus_client.REGISTRY``), made on first use and the same one afterwards.

        histogram = loop_lag_histogram()
        histogram.observe(0.003)          # what LoopLagMonitor does after each wake-up
        assert loop_lag_histogram() is histogram
    """
    require_client()
    from prometheus_client import REGISTRY, Histogram

    owner = REGISTRY if registry is None else registry
    with _LOCK:
        histogram = _HISTOGRAMS.get(owner)
        if histogram is None:
            histogram = Histogram(
                "sluice_event_loop_lag_seconds",
                "How much later than asked the event loop woke a sleeping task.",
                buckets=LAG_BUCKETS,
                registry=owner,
            )
            _HISTOGRAMS[owner] = histogram
        return histogram


class LoopLagMonitor:
    """Measures the running loop's lag every ``interval`` seconds into a histogram.

    ``histogram``: where lags go (default: `loop_lag_histogram` of ``registry``). `start`
    needs a running loop; `stop` cancels the measuring task and waits for it to end.
    ``last_lag`` and ``samples`` tell what was measured last and how many times.

        monitor = LoopLagMonitor(interval=1.0, registry=registry).start()
        ...
        await monitor.stop()
    """

    def __init__(
        self,
        *,
        interval: float = 0.5,
        registry: CollectorRegistry | None = None,
        histogram: Histogram | None = None,
    ) -> None:
        if not (isinstance(interval, int | float) and math.isfinite(interval) and interval > 0):
            raise ConfigError(
                f"LoopLagMonitor(interval=...) must be a finite number > 0, got {interval!r}"
            )
        self.interval = float(interval)
        self._histogram = loop_lag_histogram(registry) if histogram is None else histogram
        self._task: asyncio.Task[None] | None = None
        self.last_lag: float | None = None
        self.samples = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> LoopLagMonitor:
        """Start measuring on the running loop (a no-op while already measuring)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._measure(), name="sluice-loop-lag"
            )
        return self

    async def stop(self) -> None:
        """Stop measuring: cancel the task and wait until it has ended."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait((task,))

    async def __aenter__(self) -> LoopLagMonitor:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval
        observe = self._histogram.observe
        while True:
            due = loop.time() + interval
            await asyncio.sleep(interval)
            # A timer may fire up to the loop's clock resolution early: that is no lag.
            lag = max(0.0, loop.time() - due)
            self.last_lag = lag
            self.samples += 1
            observe(lag)
