"""Whether a gate would make a new call queue or fail: the rule `Shed` applies.

Read from the gate's state without the latency percentiles `Gate.statistics()` sorts, so a
check per request stays cheap. The first condition that holds is the verdict::

    verdict = overload(gate, rule, time_remaining())
    if verdict is not None:
        verdict.reason, verdict.retry_after      # "circuit_open", 12.5
"""

from __future__ import annotations

from dataclasses import dataclass

from .._gate import Gate

__all__ = ["REASONS", "Overload", "Rule", "overload"]

REASONS = (
    "closed",
    "circuit_open",
    "paused",
    "store_unavailable",
    "queue_full",
    "rate_limited",
)
"""The reasons `overload` gives, in the order it checks them."""


@dataclass(frozen=True, slots=True)
class Rule:
    """``max_queue``: callers waiting for a permit at which to shed, or ``None`` (no bound);
    ``queue_at_limit``: the bound is the gate's concurrency limit instead (as it is now, an
    adaptive one included); ``max_rate_wait``: the longest rate wait to accept (``None``:
    only the request's deadline bounds it)."""

    max_queue: int | None
    queue_at_limit: bool
    max_rate_wait: float | None


@dataclass(frozen=True, slots=True)
class Overload:
    """Why a gate sheds: the gate's name, a reason of `REASONS`, and when to come back
    (seconds; ``None`` when the gate cannot tell)."""

    gate: str
    reason: str
    retry_after: float | None


def overload(gate: Gate, rule: Rule, remaining: float | None) -> Overload | None:
    """The first reason ``gate`` would refuse or hold a new call now, or ``None``.

    ``remaining`` is the request's time left (``None``: no deadline): a rate wait longer
    than it sheds.
    """
    name = gate.name
    if gate.closed:
        return Overload(name, "closed", None)
    stats = gate.admission()
    shared = stats.shared
    breaker = stats.breaker
    if breaker is not None and breaker.state == "open":
        return Overload(name, "circuit_open", breaker.retry_after)
    if shared is not None and shared.breaker_state == "open":
        return Overload(name, "circuit_open", None)
    paused = stats.paused_for if shared is None else max(stats.paused_for, shared.paused_for)
    if paused > 0:
        return Overload(name, "paused", paused)
    if shared is not None and not shared.reachable and shared.fail == "closed":
        return Overload(name, "store_unavailable", None)
    bound = stats.concurrency_limit if rule.queue_at_limit else rule.max_queue
    if bound is not None and stats.waiting >= bound:
        return Overload(name, "queue_full", None)
    delay = 0.0 if stats.rate is None else stats.rate.delay
    if shared is not None and shared.rate_delay > delay:
        delay = shared.rate_delay
    if delay > 0:
        limit = rule.max_rate_wait
        if remaining is not None and (limit is None or remaining < limit):
            limit = remaining
        if limit is not None and delay > limit:
            return Overload(name, "rate_limited", delay)
    return None
