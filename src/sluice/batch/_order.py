"""Writing answers in input order (``ordered=True``) with a bounded hold.

Each request the runner takes from the input gets the next position. An answer that arrives
before every earlier position is settled is held; when the head of the order settles, the
held answers behind it are written, in order. A position settles when its answer is written,
or when it is given up: a failure, a malformed line, a request a stop caught before it left.
Those write nothing and never block the ones behind them.

The hold is bounded by ``span``, the positions taken and not yet settled (in flight, waiting
for an earlier answer, or held): once ``span`` are open, the runner takes no new request until
the head settles, so memory stays bounded whatever the latencies. An answer is journaled only
when it is written (the write runs the runner's usual "line, then journal row"), so after a
``kill -9`` a held answer is neither in the output nor marked done: the next run sends it again.

    order = InputOrder(span=512)
    first, second = order.take("q1"), order.take("q2")
    order.hold("q2", write_q2)      # held: q1 is still open
    order.give_up("q1")             # q1 failed: q2 is written now
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .. import ConfigError

__all__ = ["SPAN_PER_WINDOW", "InputOrder"]

SPAN_PER_WINDOW = 8
"""The default hold of an ordered run spans this many windows of requests: against latencies
with a long tail (lognormal, coefficient of variation 1) a hold of four windows stalls the run
on every request slower than four times the mean (about 1.5x the time of an unordered run);
eight windows cost about 1.08x, sixteen 1.01-1.04x (see docs/batch.md)."""

Write = Callable[[], None]


class InputOrder:
    """Positions handed out in input order, released to the output in the same order."""

    def __init__(self, span: int) -> None:
        if isinstance(span, bool) or not isinstance(span, int) or span < 1:
            raise ConfigError(f"the ordered hold must span at least 1 request, got {span!r}")
        self.span = span
        self._next = 0  # the position the next request gets
        self._head = 0  # the first position not yet written or given up
        self._positions: dict[str, int] = {}  # open positions by custom_id
        self._settled: dict[int, Write | None] = {}  # past the head: a write, or None
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False
        self._held = 0
        self.held_peak = 0  # the most answers held at once (for tests and reports)

    @property
    def open(self) -> int:
        """Positions taken and not yet written or given up."""
        return self._next - self._head

    @property
    def held(self) -> int:
        """Answers waiting for an earlier position."""
        return self._held

    async def room(self) -> None:
        """Wait until fewer than ``span`` positions are open (or `wake` was called)."""
        while self.open >= self.span and not self._closed:
            self._room.clear()
            await self._room.wait()

    def wake(self) -> None:
        """Release every `room` waiter for good: the run is stopping."""
        self._closed = True
        self._room.set()

    def take(self, custom_id: str | None = None) -> int:
        """The next position; ``custom_id`` names it for `hold` and `give_up`."""
        position = self._next
        self._next += 1
        if custom_id is not None:
            self._positions[custom_id] = position
        return position

    def hold(self, custom_id: str, write: Write) -> None:
        """``custom_id`` is answered: ``write`` runs once every earlier position settled
        (at once after a `flush`, which left no position open)."""
        position = self._positions.pop(custom_id, None)
        if position is None:
            write()
        else:
            self._settle(position, write)

    def give_up(self, custom_id: str) -> None:
        """``custom_id`` will have no line (failed, not sent); an unknown id is ignored."""
        position = self._positions.pop(custom_id, None)
        if position is not None:
            self._settle(position, None)

    def skip(self, position: int) -> None:
        """An unnamed position (a malformed line) settles with no line."""
        self._settle(position, None)

    def flush(self) -> None:
        """Write every held answer now, in order, jumping the open positions: the run ends
        without waiting for them (a hard stop). Nothing paid for is dropped."""
        for position in sorted(self._settled):
            write = self._settled.pop(position)
            if write is not None:
                write()
        self._held = 0
        self._positions.clear()
        self._head = self._next
        self._room.set()

    def _settle(self, position: int, write: Write | None) -> None:
        if position != self._head:
            self._settled[position] = write
            if write is not None:
                self._held += 1
                self.held_peak = max(self.held_peak, self._held)
            return
        if write is not None:
            write()
        self._head += 1
        settled = self._settled
        while self._head in settled:
            later = settled.pop(self._head)
            if later is not None:
                self._held -= 1
                later()
            self._head += 1
        self._room.set()
