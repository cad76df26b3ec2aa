"""Single-flight: identical calls in flight at the same moment share one execution.

The first caller for a key starts the work in a task owned by the `SingleFlight` group; later
callers for the same key, arriving while it runs, wait for that task instead of starting their
own. Rules that make it safe to put in front of calls with independent deadlines:

- each waiter awaits the shared task through `asyncio.shield`: a waiter that is cancelled or
  times out leaves alone, and the work goes on for the others;
- waiters are counted; when the last one leaves before the work is done, the work is cancelled
  (nobody wants the answer) and the key is freed, so the next caller starts afresh;
- an error raised by the work is delivered to every waiter of that flight; nothing is
  remembered once the flight lands (this is deduplication of in-flight work, not a cache);
- `aclose` cancels the flights still running and waits for them (bounded), so no task
  outlives the group; their waiters get `GateClosedError`.

    flights: SingleFlight[str] = SingleFlight()
    answer = await flights.do(prompt, lambda: ask_model(prompt))   # concurrent twins share it
    await flights.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from .._errors import GateClosedError
from .._validate import check_positive

__all__ = ["Flight", "SingleFlight"]

T = TypeVar("T")
logger = logging.getLogger("sluice")


class Flight(Generic[T]):
    """One shared execution: its task, and who is waiting for it."""

    __slots__ = ("closing", "joined", "key", "task", "waiters")

    def __init__(self, key: Hashable, task: asyncio.Task[T]) -> None:
        self.key = key
        self.task = task
        self.waiters = 0
        self.joined = False  # a first waiter came: later ones are coalesced calls
        self.closing = False


class SingleFlight(Generic[T]):
    """A group of keyed shared executions (see the module docstring for the rules).

    ``close_timeout`` bounds how long `aclose` waits for cancelled work to unwind.

        flights: SingleFlight[bytes] = SingleFlight("fetch")
        pages = await asyncio.gather(*(flights.do(url, lambda: fetch(url)) for _ in range(9)))
        assert flights.coalesced == 8       # one fetch served all nine callers
    """

    __slots__ = ("_close_timeout", "_closed", "_coalesced", "_flights", "_name", "_tasks")

    def __init__(self, name: str = "single-flight", *, close_timeout: float = 5.0) -> None:
        self._name = name
        self._close_timeout = check_positive("SingleFlight", "close_timeout", close_timeout)
        self._flights: dict[Hashable, Flight[T]] = {}
        # Every task started and not finished, including abandoned ones still unwinding.
        self._tasks: set[asyncio.Task[T]] = set()
        self._coalesced = 0
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Keys with an execution running now."""
        return len(self._flights)

    @property
    def coalesced(self) -> int:
        """Calls that joined an execution another call had started."""
        return self._coalesced

    async def do(
        self,
        key: Hashable,
        work: Callable[[], Coroutine[Any, Any, T]],
        *,
        context: contextvars.Context | None = None,
    ) -> T:
        """Return the result of ``work()``, shared with concurrent calls for the same key."""
        flight = self.find(key)
        if flight is None:
            flight = self.start(key, work, context=context)
        return await self.wait(flight)

    def find(self, key: Hashable) -> Flight[T] | None:
        """The execution running for ``key``, if any."""
        return self._flights.get(key)

    def start(
        self,
        key: Hashable,
        work: Callable[[], Coroutine[Any, Any, T]],
        *,
        context: contextvars.Context | None = None,
    ) -> Flight[T]:
        """Start ``work()`` as the shared execution for ``key`` (none may be running).

        ``context`` is the `contextvars.Context` the task runs in (default: a copy of the
        caller's). The caller must then `wait` on the returned flight.
        """
        if self._closed:
            raise GateClosedError(f"{self._name}: closed, no new call is started")
        if key in self._flights:
            raise RuntimeError(f"{self._name}: a call is already in flight for {key!r}")
        loop = asyncio.get_running_loop()
        task = loop.create_task(work(), name=f"sluice-{self._name}", context=context)
        flight = Flight(key, task)
        self._flights[key] = flight
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._landed(flight, done))
        return flight

    async def wait(self, flight: Flight[T]) -> T:
        """Wait for ``flight`` as one of its waiters; leaving early never cancels it for
        the others, but the last waiter to leave cancels work nobody waits for any more."""
        task = flight.task
        if flight.joined:
            self._coalesced += 1
        flight.joined = True
        flight.waiters += 1
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if (
                flight.closing
                and task.cancelled()
                and (current is None or not current.cancelling())
            ):
                # The group closed under us; this caller was not cancelled itself.
                raise GateClosedError(
                    f"{self._name}: closed while the call was in flight"
                ) from None
            raise
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not task.done():
                self._abandon(flight)

    async def aclose(self) -> None:
        """Refuse new executions, cancel running ones and wait (at most ``close_timeout``)
        for them to end."""
        self._closed = True
        tasks = list(self._tasks)
        for flight in list(self._flights.values()):
            flight.closing = True
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._close_timeout)
        if pending:
            logger.warning(
                "%s: %d shared call(s) still running %gs after being cancelled at close",
                self._name,
                len(pending),
                self._close_timeout,
            )

    def close(self) -> None:
        """Refuse new executions and ask running ones to stop, from any thread (no waiting)."""
        self._closed = True
        for flight in list(self._flights.values()):
            flight.closing = True
        for task in list(self._tasks):
            with contextlib.suppress(RuntimeError):  # the task's loop is closed already
                task.get_loop().call_soon_threadsafe(task.cancel)

    def _abandon(self, flight: Flight[T]) -> None:
        # Free the key first: a caller arriving now must not join work that is being cancelled.
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]
        flight.task.cancel()

    def _landed(self, flight: Flight[T], task: asyncio.Task[T]) -> None:
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]
        self._tasks.discard(task)
        if not task.cancelled():
            # Mark the error as seen: when every waiter has left, nobody else will read it.
            task.exception()

    def __repr__(self) -> str:
        return f"SingleFlight({self._name!r}, in_flight={len(self._flights)})"
