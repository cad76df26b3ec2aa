"""One HTTP exchange as the simulator sees it: ASGI send/receive, timed pauses that end early
when the client leaves or the server shuts down, and the ASGI type aliases.

A request that never waits (zero latency) costs nothing extra. The first real pause starts a
small task that listens for the client's disconnect, so a client that gives up frees its slot
at once instead of after the whole simulated answer.

    exchange = Exchange(receive, send, time.monotonic)
    if await exchange.pause_until(deadline):   # False: client gone or server closing
        await exchange.start(200, headers)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .._clock import Reader

__all__ = ["Exchange", "Message", "Receive", "Scope", "Send", "SimulatedReset"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SimulatedReset(Exception):
    """Raised to make the server drop the connection mid-response (the ``reset`` fault)."""


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Exchange:
    """The I/O of one request, with interruptible pauses."""

    __slots__ = (
        "_clock",
        "_loop",
        "_receive",
        "_send",
        "_sleeper",
        "_watcher",
        "complete",
        "disconnected",
        "started",
        "stopped",
    )

    def __init__(self, receive: Receive, send: Send, clock: Reader) -> None:
        self._loop = asyncio.get_running_loop()
        self._clock = clock
        self._receive = receive
        self._send = send
        self._sleeper: asyncio.Future[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.started = False
        self.complete = False
        self.disconnected = False
        self.stopped = False

    def now(self) -> float:
        return self._clock()

    async def pause_until(self, deadline: float) -> bool:
        """Wait until ``deadline`` on the clock; False if the exchange was stopped meanwhile."""
        if self.stopped:
            return False
        delay = deadline - self._clock()
        if delay <= 0:
            return True
        if self._watcher is None:
            self._watcher = self._loop.create_task(self._watch_disconnect())
        # A bare future plus one timer, like asyncio.sleep, but one that stop() can resolve.
        sleeper: asyncio.Future[None] = self._loop.create_future()
        timer = self._loop.call_later(delay, _wake, sleeper)
        self._sleeper = sleeper
        try:
            await sleeper
        finally:
            self._sleeper = None
            timer.cancel()
        return not self.stopped

    def stop(self) -> None:
        """End any current and future pause (client gone, or the server is closing)."""
        self.stopped = True
        if self._sleeper is not None:
            _wake(self._sleeper)

    async def _watch_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        # After a complete response the server reports a disconnect too; that one is not news.
        if not self.complete:
            self.disconnected = True
            self.stop()

    async def aclose(self) -> None:
        """Stop the disconnect listener, if one was started, and wait for it to end."""
        watcher = self._watcher
        if watcher is not None:
            self._watcher = None
            watcher.cancel()
            await asyncio.wait((watcher,))
            if not watcher.cancelled():
                watcher.exception()  # retrieved: an error here must not be logged at exit

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, more: bool = False) -> None:
        if not more:
            self.complete = True
        await self._send({"type": "http.response.body", "body": data, "more_body": more})
