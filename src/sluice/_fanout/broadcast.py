"""`Gate.broadcast` and `Gate.race`: one call per target, each failure isolated.

Every target gets its own task (targets are peers or replicas: few, and each may be slow or
dead independently). A `_Fan` collects what each task settles to and decides when the caller
may go on: when every target has answered, when the quorum is met or can no longer be met,
or when the deadline passes (the unfinished targets are then cancelled and reported as
`DeadlineExceeded`).

    result = await gate.broadcast(notify, peers, quorum=2, deadline=1.5)
    result.succeeded   # {peer: value}
    result.failed      # {peer: exception}, timeouts included
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from .._core.deadline import DEADLINE
from .._errors import ConfigError, DeadlineExceeded, SluiceError

__all__ = ["AllFailedError", "BroadcastResult", "fan_out", "keys_of", "settle"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

# Calls left running after a quorum (cancel_rest=False): held here so none is collected
# mid-flight; each leaves the set when it ends.
_DETACHED: set[asyncio.Task[None]] = set()


class AllFailedError(ExceptionGroup[Exception], SluiceError):
    """Every target failed (`Gate.race`); ``exceptions`` holds one error per target, in
    target order. Works with ``except*`` like any exception group."""


@dataclass(frozen=True, slots=True)
class BroadcastResult(Generic[K, T]):
    """What a `Gate.broadcast` found, keyed by target (in target order).

    - ``succeeded``: target -> value;
    - ``failed``: target -> exception (timeouts included, see ``timed_out``);
    - ``cancelled``: targets stopped unfinished because the quorum was decided;
    - ``pending``: targets still running when the call returned (``cancel_rest=False``);
    - ``rest``: with pending targets, an `asyncio.Future` resolving to the final result once
      they have all finished (or the deadline passed); cancelling it cancels them.
    """

    succeeded: Mapping[K, T]
    failed: Mapping[K, Exception]
    cancelled: tuple[K, ...] = ()
    pending: tuple[K, ...] = ()
    rest: asyncio.Future[BroadcastResult[K, T]] | None = None

    @property
    def timed_out(self) -> Mapping[K, TimeoutError]:
        """The failures that are timeouts: the deadline's, or the gate's own."""
        return MappingProxyType(
            {key: exc for key, exc in self.failed.items() if isinstance(exc, TimeoutError)}
        )

    @property
    def complete(self) -> bool:
        """Every target answered (succeeded or failed): none was cancelled or is pending."""
        return not self.cancelled and not self.pending


class _Fan:
    """Outcomes of one broadcast, by target position, and the decision when to return."""

    __slots__ = (
        "decided",
        "errors",
        "gate",
        "keys",
        "need",
        "open",
        "quorum",
        "rest",
        "seconds",
        "tasks",
        "timer",
        "values",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        gate: str,
        keys: list[Any],
        quorum: int | None,
        seconds: float | None,
    ) -> None:
        self.gate = gate
        self.keys = keys
        self.quorum = quorum
        self.need = len(keys) if quorum is None else quorum
        self.seconds = seconds
        self.values: dict[int, Any] = {}
        self.errors: dict[int, Exception] = {}
        self.open = len(keys)
        self.tasks: list[asyncio.Task[None]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.decided: asyncio.Future[None] = loop.create_future()
        self.rest: asyncio.Future[BroadcastResult[Any, Any]] | None = None

    def settled(self, position: int) -> bool:
        return position in self.values or position in self.errors

    def succeed(self, position: int, value: Any) -> None:
        if not self.settled(position):
            self.values[position] = value
            self._closed_one()

    def fail(self, position: int, error: Exception) -> None:
        if not self.settled(position):
            self.errors[position] = error
            self._closed_one()

    def _closed_one(self) -> None:
        self.open -= 1
        if not self.decided.done():
            won = len(self.values)
            if (
                won >= self.need
                or not self.open
                or (self.quorum is not None and won + self.open < self.need)
            ):
                self.decided.set_result(None)
        if not self.open:
            self._finish()

    def expire(self) -> None:
        """The deadline passed: every unfinished target fails with `DeadlineExceeded`."""
        self.timer = None
        for position, task in enumerate(self.tasks):
            if not self.settled(position):
                task.cancel()
                error = DeadlineExceeded(
                    f"gate {self.gate!r}: {self.describe(position)} did not answer within the "
                    f"deadline of {self.seconds:g}s",
                    gate=self.gate,
                    timeout=self.seconds or 0.0,
                )
                self.fail(position, error)

    def describe(self, position: int) -> str:
        text = repr(self.keys[position])
        return f"target {text if len(text) <= 60 else text[:57] + '...'}"

    def stop(self) -> list[asyncio.Task[None]]:
        """Cancel every call still running and the deadline; the tasks still to finish."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        pending = [task for task in self.tasks if not task.done()]
        for task in pending:
            task.cancel()
        return pending

    def _finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        rest = self.rest
        if rest is not None and not rest.done():
            rest.set_result(self.snapshot())

    def snapshot(self, *, cancelled: bool = False) -> BroadcastResult[Any, Any]:
        """The result as of now; unfinished targets are ``cancelled`` or ``pending``."""
        keys = self.keys
        unfinished = tuple(keys[p] for p in range(len(keys)) if not self.settled(p))
        return BroadcastResult(
            succeeded=MappingProxyType({keys[p]: self.values[p] for p in sorted(self.values)}),
            failed=MappingProxyType({keys[p]: self.errors[p] for p in sorted(self.errors)}),
            cancelled=unfinished if cancelled else (),
            pending=() if cancelled else unfinished,
            rest=None if cancelled or not unfinished else self.rest,
        )

    def detach(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[BroadcastResult[Any, Any]]:
        """Let the unfinished calls run on (cancel_rest=False): a future for the final result."""
        rest: asyncio.Future[BroadcastResult[Any, Any]] = loop.create_future()
        self.rest = rest
        rest.add_done_callback(self._rest_done)
        for task in self.tasks:
            if not task.done():
                _DETACHED.add(task)
                task.add_done_callback(_DETACHED.discard)
        return rest

    def _rest_done(self, rest: asyncio.Future[BroadcastResult[Any, Any]]) -> None:
        if rest.cancelled():
            self.stop()


async def settle(tasks: list[asyncio.Task[None]]) -> None:
    """Wait until cancelled tasks have really ended (they own nothing after that)."""
    if tasks:
        await asyncio.wait(tasks)


def keys_of(owner: str, targets: list[Any]) -> None:
    """Check that targets can key a result: hashable and distinct."""
    seen: set[Any] = set()
    for position, target in enumerate(targets):
        try:
            duplicate = target in seen
        except TypeError:
            raise TypeError(
                f"{owner}(targets=...) must hold hashable targets (the result is keyed by "
                f"target); the one at position {position} is an unhashable "
                f"{type(target).__name__}. Pass ids or names and look the target up in fn."
            ) from None
        if duplicate:
            raise ConfigError(
                f"{owner}(targets=...) must not repeat a target; {target!r} appears twice"
            )
        seen.add(target)


async def _call(
    run: Callable[..., Awaitable[Any]], fan: _Fan, position: int, fn: Any, target: Any
) -> None:
    try:
        value = await run(fn, target)
    except Exception as exc:  # isolated: one target's failure is only its own
        fan.fail(position, exc)
    else:
        fan.succeed(position, value)


async def fan_out(
    run: Callable[..., Awaitable[Any]],
    gate: str,
    now: float,
    fn: Any,
    targets: list[Any],
    *,
    quorum: int | None,
    seconds: float | None,
) -> _Fan:
    """Start one call per target and return once the outcome is decided (see `_Fan`).

    If the caller is cancelled meanwhile, every call is cancelled and has ended before the
    cancellation propagates.
    """
    loop = asyncio.get_running_loop()
    fan = _Fan(loop, gate, targets, quorum, seconds)
    if not targets:
        return fan
    token = None
    if seconds is not None:
        # The calls see the deadline too (sluice.time_remaining(), nested gates, retries that
        # would not fit); the timer below enforces it whatever the call does.
        until = now + seconds
        outer = DEADLINE.get()
        if outer is None or until < outer:
            token = DEADLINE.set(until)
    try:
        fan.tasks = [
            loop.create_task(_call(run, fan, position, fn, target))
            for position, target in enumerate(targets)
        ]
    finally:
        if token is not None:
            DEADLINE.reset(token)
    if seconds is not None:
        fan.timer = loop.call_later(seconds, fan.expire)
    try:
        await fan.decided
    except BaseException:
        await settle(fan.stop())
        raise
    return fan
