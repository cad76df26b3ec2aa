"""Failing a test whose event loop blocks: `no_stalls` watches the loop while its block runs
and raises `AssertionError` naming the function that blocked, with its stack.

    async with no_stalls(threshold_ms=50):
        await handler(request)                   # fails if anything blocks the loop > 50 ms
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from .._validate import check_positive
from ..observe import LoopWatch, Stall, watch_loop
from ..observe._records import where_blocked

__all__ = ["NoStalls", "no_stalls"]

_LISTED = 5  # stalls named one per line in a failure message; the longest's stack follows


class NoStalls:
    """The context manager `no_stalls` returns (``with`` or ``async with``, on the loop)."""

    __slots__ = ("_loop", "_watch", "threshold_ms")

    def __init__(
        self, threshold_ms: float = 100.0, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.threshold_ms = check_positive("no_stalls", "threshold_ms", threshold_ms)
        self._loop = loop
        self._watch: LoopWatch | None = None

    @property
    def stalls(self) -> tuple[Stall, ...]:
        return () if self._watch is None else self._watch.stalls

    def __enter__(self) -> NoStalls:
        # Logging is off: the failure message carries the report.
        self._watch = watch_loop(self.threshold_ms / 1000, log_every=None, loop=self._loop)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._watch is not None:
            self._watch.stop()
        if kind is None:  # an error already on its way says more than a stall would
            self.check()

    async def __aenter__(self) -> NoStalls:
        return self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, error, tb)

    def check(self) -> None:
        """Raise `AssertionError` describing the stalls seen so far, if any."""
        stalls = self.stalls
        if not stalls:
            return
        longest = max(stalls, key=lambda stall: stall.duration)
        lines = [
            f"the event loop was blocked for more than {self.threshold_ms:g} ms "
            f"{len(stalls)} time(s); the longest, {_ms(longest)}, in {where_blocked(longest)}"
        ]
        lines.extend(f"  {_ms(stall)} in {where_blocked(stall)}" for stall in stalls[:_LISTED])
        if len(stalls) > _LISTED:
            lines.append(f"  ... and {len(stalls) - _LISTED} more")
        if longest.stack:
            lines.append("the loop thread's stack during the longest:")
            lines.append(longest.stack.rstrip())
        raise AssertionError("\n".join(lines))


def no_stalls(
    threshold_ms: float = 100.0, *, loop: asyncio.AbstractEventLoop | None = None
) -> NoStalls:
    """Fail (`AssertionError`) when the running loop (or ``loop``) is blocked for more than
    ``threshold_ms`` milliseconds inside the block; the message names the blocking function.

        with no_stalls(threshold_ms=20):
            parse(document)                      # AssertionError: ... in parse (app.py:12)
        # pytest: @pytest.mark.no_stalls(threshold_ms=20) on an async test does the same
    """
    return NoStalls(threshold_ms, loop=loop)


def _ms(stall: Stall) -> str:
    return f"{stall.duration * 1000:.0f} ms"
