"""A scripted upstream for gate tests: records when calls start and how many overlap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field


class Flaky(Exception):
    """An upstream error carrying the attributes policies read (the error protocol)."""

    def __init__(
        self,
        message: str = "flaky",
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        overloaded: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.overloaded = overloaded


@dataclass
class Upstream:
    """``await upstream()`` sleeps ``latency`` and then fails or returns per ``script``.

    ``script`` is consumed one item per call: an exception instance is raised, anything else is
    returned; when it runs out, calls return ``"ok"``.
    """

    latency: float = 0.0
    script: list[object] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    running: int = 0
    peak: int = 0
    on_start: Callable[[], None] | None = None

    async def __call__(self, *args: object, **kwargs: object) -> object:
        loop = asyncio.get_running_loop()
        self.starts.append(loop.time())
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.on_start is not None:
            self.on_start()
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            outcome = self.script.pop(0) if self.script else "ok"
        finally:
            self.running -= 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
