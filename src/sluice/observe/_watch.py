"""The loop watchdog: a thread that notices when the event loop stops running callbacks, and
captures the loop thread's stack at that moment, so the report names what blocked it.

The watchdog thread posts a heartbeat to the loop (`call_soon_threadsafe`) and checks on it
every ``interval``. A loop that runs its callbacks answers within microseconds; a heartbeat
left unanswered for more than ``threshold`` means something on the loop thread is not
yielding (``time.sleep``, a blocking SDK call, a CPU-heavy parse). The watchdog then copies
that thread's stack once; when the loop comes back and runs the heartbeat, the stall is
recorded with its duration, handed to ``on_stall`` and logged (rate-limited).

    watch = sluice.observe.watch_loop(threshold=0.1)
    ...                                          # later: watch.stalls[-1].blocking
    watch.stop()
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from .._errors import ConfigError
from .._validate import check_int_at_least, check_non_negative, check_positive
from ._records import (
    LoopWatchStatistics,
    Stall,
    blocking_frame,
    format_frames,
    frames_of,
    where_blocked,
)

__all__ = ["LoopWatch", "watch_loop"]

_LOGGER = logging.getLogger("sluice")
_THREAD_NAME = "sluice-loop-watch"
_OWNER = "watch_loop"
T = TypeVar("T")

# (blocking, frames, stack) as captured on the watchdog thread
_Capture = tuple[str, tuple[tuple[str, str, int], ...], str]


class LoopWatch:
    """A running loop watchdog (made by `watch_loop`); ``stop()`` it, or use it as a context
    manager (``with`` or ``async with``).

    ``on_stall(stall)`` and ``on_lag(seconds)`` run on the loop thread, when the loop comes
    back (``on_lag`` after every heartbeat, about ``1 / interval`` times a second); a stall
    still open when `stop` is called is recorded, and ``on_stall`` called, on the thread
    calling `stop`. An exception raised by either callback is logged and otherwise ignored.

        with watch_loop(threshold=0.05, on_stall=print) as watch:
            await serve()
        assert watch.statistics().stalls == 0
    """

    __slots__ = (
        "_beats",
        "_capture",
        "_last_log",
        "_lock",
        "_longest",
        "_loop",
        "_max_lag",
        "_paused",
        "_pending",
        "_stalled",
        "_stalls",
        "_stop",
        "_suppressed",
        "_thread",
        "_thread_id",
        "_total",
        "_unreported",
        "interval",
        "log_every",
        "on_lag",
        "on_stall",
        "threshold",
    )

    def __init__(
        self,
        threshold: float = 0.1,
        *,
        interval: float | None = None,
        on_stall: Callable[[Stall], object] | None = None,
        on_lag: Callable[[float], object] | None = None,
        log_every: float | None = 10.0,
        max_stalls: int = 100,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.threshold = check_positive(_OWNER, "threshold", threshold)
        # A quarter of the threshold: a stall is seen at most 1.25 thresholds after it began.
        self.interval = self.threshold / 4 if interval is None else interval
        check_positive(_OWNER, "interval", self.interval)
        if self.interval > self.threshold:
            raise ConfigError(
                f"{_OWNER}(interval=...) must be <= threshold ({self.threshold!r}), "
                f"got {interval!r}"
            )
        for name, callback in (("on_stall", on_stall), ("on_lag", on_lag)):
            if callback is not None and not callable(callback):
                raise ConfigError(
                    f"{_OWNER}({name}=...) must be callable or None, got {callback!r}"
                )
        self.on_stall = on_stall
        self.on_lag = on_lag
        self.log_every = (
            None if log_every is None else check_non_negative(_OWNER, "log_every", log_every)
        )
        keep = check_int_at_least(_OWNER, "max_stalls", max_stalls, 1)
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    f"{_OWNER}() needs a running event loop, or the loop to watch (loop=...)"
                ) from None
        elif not isinstance(loop, asyncio.AbstractEventLoop):
            raise ConfigError(f"{_OWNER}(loop=...) must be an asyncio event loop, got {loop!r}")
        self._loop = loop
        # Known at once when called on the loop; otherwise learnt from the first heartbeat.
        self._thread_id = threading.get_ident() if _running_here(loop) else None
        self._lock = threading.Lock()
        self._pending: float | None = None  # when the unanswered heartbeat was posted
        self._capture: _Capture | None = None  # the stack seen while it was unanswered
        self._paused = False  # the loop was not running at all: not a stall
        self._stalls: deque[Stall] = deque(maxlen=keep)
        self._total = self._beats = self._suppressed = self._unreported = 0
        self._longest = self._stalled = self._max_lag = 0.0
        self._last_log: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=_THREAD_NAME, daemon=True)
        self._thread.start()

    @property
    def stalls(self) -> tuple[Stall, ...]:
        """The most recent stalls (at most ``max_stalls``), oldest first."""
        return tuple(self._stalls)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def statistics(self) -> LoopWatchStatistics:
        return LoopWatchStatistics(
            stalls=self._total,
            longest=self._longest,
            stalled=self._stalled,
            suppressed=self._suppressed,
            beats=self._beats,
            max_lag=self._max_lag,
        )

    def stop(self) -> None:
        """Stop watching and join the watchdog thread; a stall in progress (its heartbeat
        unanswered for more than ``threshold``) is recorded now (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        now = time.monotonic()
        with self._lock:
            pending, capture, paused = self._pending, self._capture, self._paused
            self._pending = self._capture = None
        if pending is not None and not paused and now - pending > self.threshold:
            self._record(pending, now - pending, capture)

    def __enter__(self) -> LoopWatch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LoopWatch:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the watchdog thread

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self._tick():
                    return
            except Exception:  # a bug here must not end the watching silently
                _LOGGER.exception("sluice loop watchdog: unexpected error")

    def _tick(self) -> bool:
        """One check: post a heartbeat, or capture the stack of a loop that has not answered
        the last one. False once the loop is closed."""
        now = time.monotonic()
        with self._lock:
            pending = self._pending
            if pending is None:
                self._pending = now
            elif self._capture is not None or self._paused or now - pending <= self.threshold:
                return True
        if pending is None:
            try:
                self._loop.call_soon_threadsafe(self._beat, now)
            except RuntimeError:  # closed: nothing left to watch
                return False
            return True
        if not self._loop.is_running():  # between run_until_complete calls: idle, not stalled
            with self._lock:
                self._paused = self._pending == pending
            return True
        capture = self._capture_stack()
        with self._lock:
            if self._pending == pending:  # else the loop came back meanwhile: the stack is stale
                self._capture = capture
        return True

    def _capture_stack(self) -> _Capture:
        thread_id = self._thread_id
        frame = None if thread_id is None else sys._current_frames().get(thread_id)
        frames = frames_of(frame)
        del frame  # a frame reference would keep the loop thread's locals alive
        return blocking_frame(frames), frames, format_frames(frames)

    # -- the loop thread

    def _beat(self, posted: float) -> None:
        now = time.monotonic()
        if self._thread_id is None:
            self._thread_id = threading.get_ident()
        with self._lock:
            if self._pending != posted:  # settled by stop()
                return
            capture, paused = self._capture, self._paused
            self._pending = self._capture = None
            self._paused = False
        lag = now - posted
        self._beats += 1
        if lag > self._max_lag:
            self._max_lag = lag
        if self.on_lag is not None:
            _call(self.on_lag, lag)
        if lag > self.threshold and not paused:
            self._record(posted, lag, capture)

    def _record(self, started: float, duration: float, capture: _Capture | None) -> None:
        blocking, frames, stack = capture if capture is not None else ("", (), "")
        stall = Stall(started, duration, blocking, frames, stack)
        self._stalls.append(stall)
        self._total += 1
        self._stalled += duration
        self._longest = max(self._longest, duration)
        if self.on_stall is not None:
            _call(self.on_stall, stall)
        self._log(stall)

    def _log(self, stall: Stall) -> None:
        if self.log_every is None:
            return
        ended = stall.started_at + stall.duration
        if self._last_log is not None and ended - self._last_log < self.log_every:
            self._suppressed += 1
            self._unreported += 1
            return
        self._last_log = ended
        more = f" ({self._unreported} more since the last report)" if self._unreported else ""
        self._unreported = 0
        _LOGGER.warning(
            "event loop blocked for %.3f s in %s%s\n%s",
            stall.duration,
            where_blocked(stall),
            more,
            stall.stack,
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LoopWatch(threshold={self.threshold}, stalls={self._total}, {state})"


def watch_loop(
    threshold: float = 0.1,
    *,
    interval: float | None = None,
    on_stall: Callable[[Stall], object] | None = None,
    on_lag: Callable[[float], object] | None = None,
    log_every: float | None = 10.0,
    max_stalls: int = 100,
    loop: asyncio.AbstractEventLoop | None = None,
) -> LoopWatch:
    """Watch the running loop (or ``loop``) for stalls longer than ``threshold`` seconds.

    The watchdog thread checks every ``interval`` (default ``threshold / 4``). Each stall is
    kept in ``watch.stalls`` (the latest ``max_stalls``) and logged as a warning on the
    ``"sluice"`` logger, at most once every ``log_every`` seconds (``None``: never; the others
    are counted in ``statistics().suppressed``).

        watch = watch_loop(threshold=0.1, on_stall=lambda s: print(s.blocking))
        await asyncio.to_thread(time.sleep, 1)    # fine: off the loop
        watch.stop()
    """
    return LoopWatch(
        threshold,
        interval=interval,
        on_stall=on_stall,
        on_lag=on_lag,
        log_every=log_every,
        max_stalls=max_stalls,
        loop=loop,
    )


def _running_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _call(callback: Callable[[T], object], value: T) -> None:
    try:
        callback(value)
    except Exception:  # the application's callback must not stop the watching
        _LOGGER.exception("sluice loop watchdog: %r raised", callback)
