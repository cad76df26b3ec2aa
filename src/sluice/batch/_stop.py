"""Stopping a run without sending what has not left yet.

A request waits in the gate (for a permit, for the rate limit, between retries) before it
goes on the wire. The runner's client sends through `StoppableTransport`, which notes the
task of each request it puts on the wire (``on_wire``: the runner cancels the others when it
stops, and only those) and refuses to send once the run is stopped: the request then fails
with `NotSent`, which the gate neither retries nor counts against the breaker, and the runner
leaves it for the next run.

    on_wire = set()
    transport = StoppableTransport(AiohttpTransport(max_connections=64), is_stopped, on_wire)
    client = Client(base_url, key, transport=transport)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..llm import Request, Response, Transport

__all__ = ["NotSent", "StoppableTransport"]


class NotSent(Exception):
    """The run stopped before this request was sent: it is left for the next run."""

    retryable = False  # read by the gate's classification: no retry, not a breaker failure


class StoppableTransport:
    """A transport that sends nothing more once ``stopped()`` says so."""

    def __init__(
        self,
        inner: Transport,
        stopped: Callable[[], bool],
        on_wire: set[asyncio.Task[Any]],
    ) -> None:
        self._inner = inner
        self._stopped = stopped
        self._on_wire = on_wire

    async def send(self, request: Request) -> Response:
        if self._stopped():
            raise NotSent("the run was stopped before this request was sent")
        task = asyncio.current_task()
        if task is not None:  # until its answer is read: the runner removes it
            self._on_wire.add(task)
        return await self._inner.send(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
