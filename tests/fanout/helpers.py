"""A scripted per-item upstream for fan-out tests: latency and failure by item."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def now() -> float:
    return asyncio.get_running_loop().time()


def other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks alive besides the current one (the test's own)."""
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


class Boom(Exception):
    """A non-retryable upstream failure."""

    retryable = False


@dataclass
class Script:
    """``await script(item)`` sleeps ``latency(item)`` then returns ``item * 10`` or raises
    ``fail[item]``; records starts, cancellations and the peak of calls in flight."""

    latency: Callable[[Any], float] = lambda item: 1.0
    fail: dict[Any, BaseException] = field(default_factory=dict)
    started: dict[Any, float] = field(default_factory=dict)
    finished: dict[Any, float] = field(default_factory=dict)
    cancelled: list[Any] = field(default_factory=list)
    running: int = 0
    peak: int = 0

    async def __call__(self, item: Any) -> Any:
        self.started[item] = now()
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.latency(item))
        except asyncio.CancelledError:
            self.cancelled.append(item)
            raise
        finally:
            self.running -= 1
        self.finished[item] = now()
        if item in self.fail:
            raise self.fail[item]
        return item * 10
