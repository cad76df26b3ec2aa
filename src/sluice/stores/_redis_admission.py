"""A shared gate's one admission stage: every check of an attempt in one round trip to Redis.

`SharedAdmission` stands where a local gate has four stages (breaker, cooldown, rate,
permits): its ``before`` returns one awaitable, which runs the `ADMIT` script and carries out
its answer: go; wait for the booked rate slot, then take a lease; wait out a pause and ask
again; or refuse (circuit open, every probe out, the slot past the deadline). When every lease
is held it polls for one, with a backoff from 2 ms to 50 ms, and a release in this process
wakes its oldest waiter as soon as the release has reached Redis. ``free`` and ``after``
never wait: they queue the release, the breaker outcome, the token settlement and any pause
in the `Outbox`.

What a caller waits for is bounded like a local permit's wait: ``max_queue`` callers of this
process in line, ``max_wait`` seconds, and no lease released anywhere for the attempt timeout.

    stage = SharedAdmission(shared)               # see SharedState
    step = stage.before(call, now)                 # an awaitable: one round trip
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol

from .._core.call import Call
from .._core.state import GateSpec
from .._core.usage import CURRENT_USAGE, UsageBox, usage_of
from .._errors import CircuitOpenError, DeadlineExceeded, OverloadedError
from .._stages.lending import holder_above
from .._stages.rate import token_estimate
from .._stages.signals import refused_unprocessed
from ._redis_outbox import Link, Outbox
from ._redis_scripts import FULL, GO, LATE, OPEN, PAUSED, WAIT


class Shared(Protocol):
    """What the stage needs of its gate's shared state (`SharedState`)."""

    spec: GateSpec
    link: Link
    outbox: Outbox
    lease_limit: int | None

    async def admit(
        self, lease: str | None, tokens: float, deadline: float, phase: str = "a"
    ) -> list[Any]: ...

    def pause_after(self, call: Call) -> float: ...


__all__ = ["SharedAdmission"]

_FIRST_POLL = 0.002
_LAST_POLL = 0.05
_FAILED = 1
_SLOW = 2


class SharedAdmission:
    """The stage of a gate whose state lives in Redis (see the module docstring)."""

    admits = True
    after_success = True

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        spec = shared.spec
        self._gate = spec.name
        self._clock = spec.clock
        self._breaker = spec.breaker
        self._limits = shared.lease_limit is not None
        self.holds = self._limits
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._prefix = f"{os.getpid()}-{id(self):x}-"
        self._count = 0

    @property
    def waiting(self) -> int:
        """Callers of this process polling for a shared lease."""
        return len(self._waiters)

    # ------------------------------------------------------------------ the stage
    def before(self, call: Call, now: float) -> Coroutine[Any, Any, None]:
        self._shared.link.check()  # fails fast while the store is known to be down
        call.ticket = -1  # nothing booked yet
        call.reserved = 0.0
        call.permit = None
        call.lease = None
        call.usage = call.usage_token = None
        tokens = 0.0
        if call.tokens is not None:
            tokens = call.tokens = token_estimate(call.tokens)  # once, for the retries too
            box = call.usage = UsageBox()
            call.usage_token = CURRENT_USAGE.set(box)
        lease = None
        if self._limits and holder_above(self) is None:
            # A call nested in a call of this gate runs on its caller's lease: queueing behind
            # it could wait for the very lease the caller holds.
            self._count += 1
            lease = call.lease = f"{self._prefix}{self._count}"
        return self._admit(call, now, tokens, lease)

    async def _admit(self, call: Call, now: float, tokens: float, lease: str | None) -> None:
        shared = self._shared
        while True:
            deadline = -1.0 if call.deadline is None else max(0.0, call.deadline - now)
            reply = await shared.admit(lease, tokens, deadline)
            code = int(reply[0])
            seconds = float(reply[1])
            if code in (GO, WAIT, FULL):
                call.ticket = int(reply[2])
                call.reserved = float(reply[3])
                break
            if code == PAUSED:
                if deadline >= 0 and seconds >= deadline:
                    raise DeadlineExceeded(
                        f"gate {self._gate!r} is paused for {seconds:.3g}s (the upstream asked "
                        f"for a cooldown), longer than the {deadline:.3g}s left",
                        gate=self._gate,
                        timeout=deadline,
                        retry_after=seconds,
                    )
                await self._clock.sleep(seconds)
                now = self._clock.now()
                continue
            if code == LATE:
                raise DeadlineExceeded(
                    f"gate {self._gate!r}: the shared rate limit admits this call in "
                    f"{seconds:.3g}s, after the deadline ({deadline:.3g}s left)",
                    gate=self._gate,
                    timeout=deadline,
                    retry_after=seconds,
                )
            if code == OPEN:
                raise CircuitOpenError(
                    f"circuit of gate {self._gate!r} is open (shared); retry in {seconds:.3g}s",
                    gate=self._gate,
                    retry_after=seconds,
                )
            raise CircuitOpenError(
                f"circuit of gate {self._gate!r} is half-open (shared) and its probes are in "
                "flight",
                gate=self._gate,
                retry_after=seconds,
            )
        if code == WAIT:
            await self._clock.sleep(seconds)
        if lease is None:
            return
        if code == GO:
            call.load = int(reply[4])
        else:
            call.load = await self._lease(call, lease, int(reply[5]))
        call.permit = self
        shared.outbox.hold(lease)

    async def _lease(self, call: Call, lease: str, released: int) -> int:
        """Poll for a lease until one is granted (then: the leases held, this one included)
        or the wait is over its bounds."""
        shared = self._shared
        concurrency = shared.spec.concurrency
        max_queue = getattr(concurrency, "max_queue", None)
        max_wait = getattr(concurrency, "max_wait", None)
        if max_queue is not None and len(self._waiters) >= max_queue:
            raise OverloadedError(
                f"gate {self._gate!r}: {len(self._waiters)} calls of this process already wait "
                f"for a shared permit (max_queue={max_queue})",
                gate=self._gate,
                reason="queue_full",
            )
        own = call.timeout
        stall_after = shared.spec.attempt_timeout if own is None else own.attempt
        loop = asyncio.get_running_loop()
        began = moved = loop.time()
        delay = _FIRST_POLL
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            while True:
                reply = await shared.admit(lease, 0.0, -1.0, phase="l")
                if int(reply[0]) == GO:
                    return int(reply[4])
                now = loop.time()
                if int(reply[5]) != released:
                    released, moved = int(reply[5]), now
                if max_wait is not None and now - began >= max_wait:
                    raise OverloadedError(
                        f"gate {self._gate!r}: no shared permit within max_wait={max_wait:g}s "
                        f"({int(reply[4])} held across processes)",
                        gate=self._gate,
                        reason="max_wait",
                    )
                if stall_after is not None and now - moved >= stall_after:
                    raise OverloadedError(
                        f"gate {self._gate!r}: no shared permit came back for "
                        f"{stall_after:g}s, the attempt timeout: all {int(reply[4])} are held "
                        "by work running longer than that",
                        gate=self._gate,
                        reason="stalled",
                    )
                if waiter.done():
                    waiter = loop.create_future()
                    self._waiters.append(waiter)
                    delay = _FIRST_POLL
                pause = delay * (0.5 + random.random())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await asyncio.shield(waiter)
                delay = min(delay * 2, _LAST_POLL)
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def free(self, call: Call) -> None:
        lease = call.lease
        if lease is not None:
            call.lease = None
            if call.permit is self:  # an adaptive limit's local permit is freed after this
                call.permit = None
            self._shared.outbox.release(lease)

    def released(self, count: int) -> None:
        """``count`` leases of this process reached Redis as released: as many of its
        waiters ask at once (asking before would find them still held)."""
        waiters = self._waiters
        while count and waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def after(self, call: Call, now: float) -> None:
        token = call.usage_token
        if token is not None:
            CURRENT_USAGE.reset(token)
            call.usage_token = None
        outbox = self._shared.outbox
        if call.started is None:
            if call.lease is not None:  # perhaps granted as the wait was cut short
                self.free(call)
            if call.ticket >= 0:  # booked: give back the slot, the tokens and any probe
                outbox.add("q", 1, -call.reserved)
                if self._breaker is not None:
                    outbox.add("o", call.ticket, -1)
            return
        error = call.error
        if error is None:
            box = call.usage
            if call.reserved and box is not None:
                actual = box.tokens if box.tokens is not None else usage_of(call.result)
                if actual is not None and 0.0 <= actual < float("inf"):
                    outbox.add("q", 0, actual - call.reserved)
            if self._breaker is not None:
                slow = self._slow(call, now)
                outbox.add("o", call.ticket, _SLOW if slow else 0)
            return
        if call.reserved and refused_unprocessed(call):
            outbox.add("q", 0, -call.reserved)  # the upstream counted none
        seconds = self._shared.pause_after(call)
        if seconds > 0:
            outbox.add("p", seconds)
        breaker = self._breaker
        if breaker is not None:
            counted = isinstance(error, Exception) and breaker.is_failure(error, call.info)
            outcome = (_FAILED | (_SLOW if self._slow(call, now) else 0)) if counted else -1
            outbox.add("o", call.ticket, outcome)

    def _slow(self, call: Call, now: float) -> bool:
        limit = None if self._breaker is None else self._breaker.slow_call_s
        started = call.started
        return limit is not None and started is not None and now - started >= limit
