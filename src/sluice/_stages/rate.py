"""Rate limits at run time: GCRA for requests, the same algorithm weighted by tokens.

GCRA keeps one number per limit, the *theoretical arrival time* (TAT). A unit costs one
emission interval ``T``; a cost ``n`` is admissible at time ``t`` when
``max(TAT, t) + n*T - t <= capacity*T``. Consequences that matter here:

- the long-run rate is exact and a burst is bounded by ``capacity`` (no initial burst beyond it);
- the wait is computed, never polled;
- each caller books its slot on arrival, so slots are served in arrival order: a large token
  reservation is never starved by a stream of small ones;
- a cost larger than the whole bucket is admitted once the bucket is full instead of waiting
  forever; what one call books is bounded by the bucket or a minute's budget, whichever is
  larger, so the debt it leaves is too (one absurd estimate cannot stall the gate);
- token reservations are settled afterwards: the difference between the estimate and the real
  usage (bounded the same way) is added to, or refunded from, the TAT.

As a stage, `RateLimiter.before` books the attempt's slot and says how long to wait for it,
and `after` settles the tokens: with the real usage on success, to zero when the upstream
refused the call before processing it (see `sluice._stages.signals`), and refunds the whole
booking when the call was never sent.

    limiter = RateLimiter(Rate(rpm=600, burst=10, tpm=90_000), gate="llm")
    slot = limiter.book(1200, deadline=None, now=now)   # books; the caller waits until slot
    limiter.settle(reserved=1200, actual=950)           # refund 250 tokens
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .._core.call import Call
from .._core.usage import CURRENT_USAGE, UsageBox, usage_of
from .._errors import DeadlineExceeded
from ..policies.rate import Rate, RateStatistics
from .signals import refused_unprocessed, reported

__all__ = ["LEARNED_BURST_SECONDS", "Gcra", "RateLimiter", "token_estimate"]

# A limit learned from an upstream's headers bursts this many seconds of its budget.
LEARNED_BURST_SECONDS = 1.0


class Gcra:
    """One GCRA limit: ``interval`` seconds per unit, ``capacity`` units of burst; ``most``
    is what one booking may count (the bucket, or a minute's worth if that is more)."""

    __slots__ = ("capacity", "interval", "most", "tat")

    def __init__(self, interval: float, capacity: float) -> None:
        self.tat = -math.inf
        self.retune(interval, capacity)

    def retune(self, interval: float, capacity: float) -> None:
        """Change the rate and the burst; what is booked stays booked."""
        self.interval = interval
        self.capacity = capacity
        per_minute = 60.0 / interval
        self.most = per_minute if per_minute > capacity else capacity

    def bounded(self, cost: float) -> float:
        """``cost`` as one booking counts it: at most ``most``."""
        most = self.most
        return cost if cost < most else most

    # Conditional expressions rather than `min` / `max`: these run on every attempt, and the
    # builtins cost more than the arithmetic around them.
    def earliest(self, now: float, cost: float) -> float:
        """Earliest time >= ``now`` at which ``cost`` units are admissible."""
        # A cost above capacity is checked as exactly "capacity": it passes when the bucket is full.
        capacity = self.capacity
        booked = (cost if cost < capacity else capacity) * self.interval
        at = self.tat + booked - capacity * self.interval
        return at if at > now else now

    def commit(self, at: float, cost: float) -> None:
        """Book ``cost`` units admitted at time ``at``."""
        tat = self.tat
        self.tat = (at if at > tat else tat) + cost * self.interval

    def adjust(self, delta: float) -> None:
        """Add (or, if negative, refund) ``delta`` units to what was booked."""
        self.tat += delta * self.interval


class RateLimiter:
    """Books request and token slots on a `Rate`; the kernel waits for them.

    Limits can also be *learned*: `observe` takes what an upstream reports (its per-minute
    limit and what remains of it) and tightens the limiter to match, so a client with no
    configured rate slows down before it is refused, and one configured too high corrects
    itself. A configured rate that is lower than the upstream's is kept.
    """

    __slots__ = ("_configured", "_gate", "_requests", "_tokens")

    admits = True
    holds = False

    def __init__(self, rate: Rate | None, *, gate: str = "gate") -> None:
        self._gate = gate
        self._requests: Gcra | None = None
        self._tokens: Gcra | None = None
        # The configured (request interval, token interval): floors that learning never undercuts.
        self._configured: tuple[float, float] = (0.0, 0.0)
        if rate is not None:
            rps = rate.requests_per_second
            if rps is not None:
                self._requests = Gcra(1.0 / rps, rate.burst)
            capacity = rate.token_capacity
            if rate.tpm is not None and capacity is not None:
                self._tokens = Gcra(60.0 / rate.tpm, capacity)
            self._configured = (
                0.0 if self._requests is None else self._requests.interval,
                0.0 if self._tokens is None else self._tokens.interval,
            )

    @property
    def counts_tokens(self) -> bool:
        """Whether a token budget is in force (configured or learned)."""
        return self._tokens is not None

    @property
    def after_success(self) -> bool:
        # A success is settled with its real usage only when tokens are counted.
        return self._tokens is not None

    def reserve(self, now: float, tokens: float) -> float:
        """Book one request and ``tokens`` tokens (bounded, see `Gcra.bounded`) at the
        earliest joint slot; return it."""
        if self._tokens is not None:
            tokens = self._tokens.bounded(tokens)
        return self.book(tokens, None, now)

    def earliest(self, now: float, tokens: float = 0.0) -> float:
        """When a call booking now would be admitted, without booking it."""
        at = now
        if self._requests is not None:
            at = self._requests.earliest(now, 1.0)
        if self._tokens is not None and tokens > 0:
            at = max(at, self._tokens.earliest(now, tokens))
        return at

    def refund(self, tokens: float) -> None:
        """Give back a booking that was never used (the caller left before its slot)."""
        if self._requests is not None:
            self._requests.adjust(-1.0)
        if self._tokens is not None and tokens > 0:
            self._tokens.adjust(-tokens)

    def settle(self, reserved: float, actual: float) -> None:
        """Replace a token booking by the real count once it is known (bounded like a
        booking; a count that is not a finite number >= 0 leaves the booking as it is)."""
        tokens = self._tokens
        if tokens is None or not 0.0 <= actual < math.inf:
            return
        actual = tokens.bounded(actual)
        if actual != reserved:
            tokens.adjust(actual - reserved)

    def observe(
        self,
        now: float,
        *,
        requests_limit: float | None = None,
        requests_remaining: float | None = None,
        tokens_limit: float | None = None,
        tokens_remaining: float | None = None,
    ) -> None:
        """Align with an upstream's report: limits per minute, and what remains of them now.

        Nothing remaining empties the bucket: the next unit comes one refill interval later.
        Values that are not numbers (a limit below 1, a count below 0, NaN, infinity) are
        ignored, so no header can stall the gate.
        """
        request_floor, token_floor = self._configured
        requests_limit = reported(requests_limit, least=1.0)
        tokens_limit = reported(tokens_limit, least=1.0)
        requests_remaining = reported(requests_remaining, least=0.0)
        tokens_remaining = reported(tokens_remaining, least=0.0)
        if requests_limit is not None:
            self._requests = _learn(self._requests, requests_limit, request_floor)
        if tokens_limit is not None:
            self._tokens = _learn(self._tokens, tokens_limit, token_floor)
        if requests_remaining is not None and self._requests is not None:
            _align(self._requests, now, requests_remaining)
        if tokens_remaining is not None and self._tokens is not None:
            _align(self._tokens, now, tokens_remaining)

    def book(self, tokens: float, deadline: float | None, now: float) -> float:
        """Book a slot for one request carrying ``tokens`` tokens and return its time; the
        caller waits until then.

        Raises `DeadlineExceeded` at once, without booking, when the slot lies at or beyond
        ``deadline``: waiting could only end in a timeout.
        """
        requests = self._requests
        token_limit = self._tokens
        at = now if requests is None else requests.earliest(now, 1.0)
        if token_limit is not None and tokens > 0:
            at = max(at, token_limit.earliest(now, tokens))
        if deadline is not None and at >= deadline:
            raise DeadlineExceeded(
                f"gate {self._gate!r}: the rate limit admits this call in {at - now:.3g}s, "
                f"after the deadline ({deadline - now:.3g}s left)",
                gate=self._gate,
                timeout=max(0.0, deadline - now),
                retry_after=at - now,
            )
        if requests is not None:
            requests.commit(at, 1.0)
        if token_limit is not None and tokens > 0:
            token_limit.commit(at, tokens)
        return at

    # ------------------------------------------------------------------ the stage
    def before(self, call: Call, now: float) -> float | None:
        if self._tokens is None:
            # No token budget: the estimate is not even computed.
            call.reserved = 0.0
            call.usage_token = None
            requests = self._requests
            if requests is None:
                return None
            # `book` for one request: the common case, with the arithmetic of
            # `Gcra.earliest` and `Gcra.commit` inlined, as it runs on every attempt.
            interval = requests.interval
            capacity = requests.capacity
            tat = requests.tat
            slot = tat + (1.0 if capacity > 1.0 else capacity) * interval - capacity * interval
            if slot < now:
                slot = now
            deadline = call.deadline
            if deadline is not None and slot >= deadline:
                self.book(0.0, deadline, now)  # raises, with the explanation
            requests.tat = (slot if slot > tat else tat) + interval
            return slot - now if slot > now else None
        estimate = token_estimate(call.tokens)
        call.tokens = estimate  # computed once, for the retries too
        most = self._tokens.most
        reserved = call.reserved = estimate if estimate < most else most
        slot = self.book(reserved, call.deadline, now)
        box = call.usage = UsageBox()
        call.usage_token = CURRENT_USAGE.set(box)
        return slot - now if slot > now else None

    def free(self, call: Call) -> None:
        pass

    def after(self, call: Call, now: float) -> None:
        token = call.usage_token
        if token is not None:
            CURRENT_USAGE.reset(token)
            call.usage_token = None
        if call.started is None:
            self.refund(call.reserved)  # never sent: the slot goes back
        elif call.error is None:
            # Successes come here only while tokens are counted (`after_success`); `usage` was
            # set by `before` then, unless the budget was learned while the call ran.
            box = call.usage if token is not None else None
            if box is not None:
                actual = box.tokens if box.tokens is not None else usage_of(call.result)
                if actual is not None:
                    self.settle(call.reserved, actual)
        elif call.reserved and refused_unprocessed(call):
            self.settle(call.reserved, 0.0)  # the upstream did not count those tokens

    def statistics(self, now: float) -> RateStatistics:
        requests = self._requests
        tokens = self._tokens
        at = self.earliest(now)
        if tokens is not None:
            # A token debt holds back every call that carries tokens, until it is paid.
            paid = tokens.earliest(now, 0.0)
            if paid > at:
                at = paid
        return RateStatistics(
            requests_per_second=None if requests is None else 1.0 / requests.interval,
            tokens_per_minute=None if tokens is None else 60.0 / tokens.interval,
            delay=at - now,
        )


def token_estimate(tokens: float | Callable[[], float] | None) -> float:
    """A call's token estimate as a number of tokens (computed now if it is a function)."""
    if tokens is None:
        return 0.0
    value = tokens() if callable(tokens) else tokens
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"a token estimate must be a finite number >= 0, got {value!r}: pass "
            "tokens=<estimate> (or a function returning one) to gate.run"
        )
    return float(value)


def _learn(limit: Gcra | None, per_minute: float, floor: float) -> Gcra:
    """Adopt an upstream's per-minute limit, never going faster than a configured interval.

    A learned limit (nothing configured) bursts one second of the budget, not the minute's:
    providers enforce a per-minute limit over about a second (60,000/min as 1,000/s), so a
    client that spends the whole minute at once draws 429s from its first second.
    """
    interval = 60.0 / per_minute
    burst = max(1.0, per_minute * LEARNED_BURST_SECONDS / 60.0)
    if limit is None:
        return Gcra(interval, burst)
    limit.retune(max(interval, floor), burst if floor == 0.0 else limit.capacity)
    return limit


def _align(limit: Gcra, now: float, remaining: float) -> None:
    """Leave at most ``remaining`` units available now (the upstream knows best, and it also
    counts traffic from other clients sharing the key). With none left the bucket is empty,
    not in debt: the next unit is one interval away, whatever the time to a full bucket."""
    available_to = now + (limit.capacity - remaining) * limit.interval
    if available_to > limit.tat:
        limit.tat = available_to
