"""What a shared gate sends without waiting: outcomes, releases and renewals, batched.

An attempt's outcome never waits on Redis (see `sluice._core.stage`: ``free`` and ``after``
never block). The stage hands each outcome to the `Outbox`, and one task per gate sends what
has gathered in one `OUTCOMES` round trip; whatever arrives while a batch is in flight goes
with the next one. The same task renews the leases this process holds, so a lease outlives
its expiry only while its process lives: a process killed with ``kill -9`` stops renewing,
and its permits come back when their leases expire. The task ends when nothing is held and
nothing is queued, so an idle gate leaves no task behind.

`Link` is the gate's view of whether Redis can be reached: after a failure, admissions fail
fast (no I/O) until ``retry_every`` has passed, then one attempt probes again.

    outbox = Outbox(send=exchange, renew_every=5.0, link=link)
    outbox.add("o", ticket, 0)          # a success, for the breaker's window
    outbox.hold(lease); outbox.release(lease)     # renewed, then given back
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable

from .._core.state import StoreUnavailable

__all__ = ["Link", "Op", "Outbox"]

logger = logging.getLogger("sluice")

Op = tuple[str | float | int, ...]

_MAX_QUEUED = 10_000  # outcomes kept while Redis is away; older ones are dropped


class Link:
    """Whether the store answered lately; fails admissions fast while it does not."""

    __slots__ = ("_down_until", "_probing", "last_error", "outages", "retry_every", "where")

    def __init__(self, where: str, retry_every: float) -> None:
        self.where = where
        self.retry_every = retry_every
        self._down_until = -math.inf  # monotonic time before which nobody tries the store
        self._probing = False
        self.outages = 0  # times the store, reachable until then, stopped answering
        self.last_error = ""

    @property
    def up(self) -> bool:
        return self._down_until == -math.inf

    def check(self) -> None:
        """Raise `StoreUnavailable` at once while the store is known to be down; after
        ``retry_every``, let exactly one caller through to try it again."""
        if self._down_until == -math.inf:
            return
        if self._probing or time.monotonic() < self._down_until:
            raise StoreUnavailable(f"{self.where} is unreachable ({self.last_error})")
        self._probing = True

    def failed(self, error: str) -> StoreUnavailable:
        """The store did not answer (``error`` says how): remember it, and the error to
        raise."""
        if self.up:
            # Info only: the gate warns once a minute while it admits on local limits.
            logger.info("shared state at %s is unreachable: %s", self.where, error)
            self.outages += 1
        self.last_error = error
        self._probing = False
        self._down_until = time.monotonic() + self.retry_every
        return StoreUnavailable(f"{self.where} is unreachable ({error})")

    def abandoned(self) -> None:
        """The exchange was cancelled before the store answered: another caller may probe."""
        self._probing = False

    def answered(self) -> None:
        if not self.up:
            logger.info("shared state at %s is reachable again", self.where)
        self._down_until = -math.inf
        self._probing = False


class Outbox:
    """Outcomes waiting to be sent, the leases to renew, and the task that sends them."""

    def __init__(
        self,
        *,
        send: Callable[[list[Op]], Awaitable[None]],
        link: Link,
        renew_every: float,
        on_released: Callable[[int], None] | None = None,
    ) -> None:
        self._send = send
        self._on_released = on_released
        self._link = link
        self._renew_every = renew_every
        self._ops: list[Op] = []
        # Releases apart from the other outcomes: an admission takes them with it (one list
        # swap on the hot path), and they are kept through an outage.
        self._releases: list[str] = []
        self._held: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._renewed_at = -math.inf
        self.sent = 0  # batches sent
        self.dropped = 0  # outcomes dropped while the store could not take them

    @property
    def held(self) -> int:
        return len(self._held)

    def add(self, *op: str | float | int, urgent: bool = True) -> None:
        """Queue one outcome; ``urgent`` wakes the sender now (else it rides the next batch)."""
        ops = self._ops
        if len(ops) >= _MAX_QUEUED:
            del ops[: len(ops) // 2]
            self.dropped += _MAX_QUEUED // 2
        ops.append(op)
        if urgent:
            self._kick()

    def hold(self, lease: str) -> None:
        """A lease this process now holds: renewed until released."""
        self._held.add(lease)
        self._kick()

    def take_releases(self, most: int = 64) -> list[str]:
        """Take (up to ``most``) releases not sent yet, for an admission to carry; what the
        admission could not deliver comes back through `requeue`."""
        releases = self._releases
        if not releases:
            return []
        taken, self._releases = releases[:most], releases[most:]
        return taken

    def requeue(self, releases: list[str]) -> None:
        """Releases an admission took but could not deliver: sent with the next batch."""
        if releases:
            self._releases[:0] = releases
            self._kick()

    def release(self, lease: str) -> None:
        self._held.discard(lease)
        self._releases.append(lease)
        self._kick()

    def _kick(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a gate closed from outside one): sent by the next flush
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="sluice-shared-outbox")
        elif self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while self._ops or self._releases or self._held:
            if not (self._ops or self._releases):
                wake.clear()
                due = self._renewed_at + self._renew_every - time.monotonic()
                if due > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(due):
                            await wake.wait()
            await self.flush()
            if not self._link.up:
                await asyncio.sleep(self._link.retry_every)

    async def flush(self) -> None:
        """Send what is queued (and the renewals that are due) in one round trip."""
        batch, self._ops = self._ops, []
        releases, self._releases = self._releases, []
        batch.extend(("r", lease) for lease in releases)
        now = time.monotonic()
        if self._held and now - self._renewed_at >= self._renew_every:
            self._renewed_at = now
            batch.extend(("w", lease) for lease in self._held)
        if not batch:
            return
        try:
            await self._send(batch)
        except StoreUnavailable:
            # Releases are kept (their leases would otherwise wait out their expiry), and so
            # are the retry budget's changes (counts, whenever they arrive); the other
            # outcomes belong to admissions made before the outage and are dropped.
            kept = [op for op in batch if op[0] == "b"]
            self.dropped += len(batch) - len(kept) - len(releases)
            self._ops[:0] = kept
            self._releases[:0] = releases
            self._renewed_at = -math.inf
            return
        self.sent += 1
        if releases and self._on_released is not None:
            self._on_released(len(releases))  # only now can another caller take them

    async def aclose(self, within: float) -> None:
        """Send what is left (within ``within`` seconds) and stop the task."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._held.clear()
        if self._ops or self._releases:
            with contextlib.suppress(TimeoutError, StoreUnavailable):
                async with asyncio.timeout(within):
                    await self.flush()
