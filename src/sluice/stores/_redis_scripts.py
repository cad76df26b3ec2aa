"""The Lua scripts behind a shared gate, and how they are run (``EVALSHA``, loaded once).

Two scripts hold every decision, so each is atomic on the server and reads the server's clock
(``TIME``): the hosts' clocks never matter. A gate's keys share one hash tag, ``{prefix:name}``,
so both scripts work on Redis Cluster (all of a gate's keys live in one slot).

- `ADMIT`: one attempt's whole admission in one round trip (with the leases its process
  released since its last exchange, so a busy process frees and takes in one trip): the
  breaker (with its half-open
  probes), the cooldown, the request and token budgets (GCRA, the same arithmetic as
  `sluice._stages.rate.Gcra`), then a concurrency lease if the rate slot is now. Phase ``l``
  asks only for the lease (after a rate wait, or while polling for a free one).
- `OUTCOMES`: everything that never waits, batched: releases and renewals of leases, breaker
  outcomes, token settlements and refunds, pauses, learned limits, retry-budget traffic.

Both take the time from the server (``TIME``) unless the caller passes one (an empty
string: the server's): the tests drive the scripts on exact instants that way.

Keys: ``KEYS[1]`` the state hash, ``KEYS[2]`` the leases (a sorted set scored by expiry),
``KEYS[3]`` the breaker's window (a list of outcomes), ``KEYS[4]`` the retry budget (a hash of
time slots). Numbers go back as strings: Redis would truncate a Lua float to an integer.

    args = admit_args(phase="a", rate=rate_args(rate), tokens=0, deadline=-1, limit=8,
                      lease="worker-1", lease_for=15.0, probes=1)
    reply = await run_script(client, ADMIT, keys, args)      # [code, seconds, ticket, ...]
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ..policies.breaker import Breaker
from ..policies.budget import RetryBudget
from ..policies.rate import Rate
from ._redis_lua import ADMIT_SOURCE, OUTCOMES_SOURCE

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "ADMIT",
    "IDLE",
    "OUTCOMES",
    "AdmitArgs",
    "Script",
    "admit_args",
    "outcome_args",
    "rate_args",
    "run_script",
]

IDLE = 86_400  # seconds an unused gate's keys live on in Redis
UNIT = 1000  # retry-budget units per retry (integers on the server, as in the local budget)

RateArgs = tuple[float, float, float, float]

# Reply codes of ADMIT: {code, seconds, ticket, reserved, held, released}.
GO = 0  # admitted; the lease (if any) is held
WAIT = 1  # the rate slot is booked ``seconds`` from now; ask for the lease then
PAUSED = 2  # the gate is paused for ``seconds``; nothing was booked
OPEN = 3  # the circuit is open for ``seconds`` more
PROBING = 4  # half-open, and every probe is in flight
LATE = 5  # the rate slot lies ``seconds`` away, at or beyond the deadline; nothing booked
FULL = 6  # booked, but every lease is held: poll with phase ``l``


class Script:
    """One script: its source and its SHA1, the name ``EVALSHA`` knows it by."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


ADMIT = Script(ADMIT_SOURCE)
OUTCOMES = Script(OUTCOMES_SOURCE)


async def run_script(
    client: Redis, script: Script, keys: tuple[str | bytes, ...], args: list[Any]
) -> list[Any]:
    """``EVALSHA`` the script; load it first when the server does not know it yet (a new or
    restarted server, a failover to a replica)."""
    from redis.exceptions import NoScriptError

    try:
        reply = await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        await client.script_load(script.source)
        reply = await client.evalsha(script.sha, len(keys), *keys, *args)
    return list(reply)


def rate_args(rate: Rate | None) -> RateArgs:
    """The configured (request interval, burst, token interval, token burst); 0: none."""
    if rate is None:
        return (0.0, 1.0, 0.0, 1.0)
    rps = rate.requests_per_second
    capacity = rate.token_capacity
    return (
        0.0 if rps is None else 1.0 / rps,
        float(rate.burst),
        0.0 if rate.tpm is None else 60.0 / rate.tpm,
        1.0 if capacity is None else capacity,
    )


def admit_args(
    *,
    phase: str,
    rate: RateArgs,
    tokens: float,
    deadline: float,
    limit: int,
    lease: str,
    lease_for: float,
    probes: int,
    now: float | None = None,
) -> list[Any]:
    """`ADMIT`'s arguments: ``deadline`` in seconds from now (-1: none), ``limit`` the
    concurrency limit (0: no lease), ``probes`` the breaker's half-open probes (0: no
    breaker), ``now`` the time to decide at (``None``: the server's)."""
    settings = _joined((*rate, lease_for, probes, IDLE))
    clock = "" if now is None else now
    return [phase, settings, tokens, deadline, limit, lease, clock]


class AdmitArgs:
    """`ADMIT`'s arguments for one gate: what never changes is encoded once (redis-py
    encodes every number on every call, and that cost more than the script itself when
    measured), the rest is filled in per call.

        args = AdmitArgs(rate=rate_args(rate), lease_for=15.0, probes=1)
        args.for_call(phase="a", tokens=0.0, deadline=-1.0, limit=8, lease="worker-1")
    """

    __slots__ = ("_template",)

    def __init__(self, *, rate: RateArgs, lease_for: float, probes: int) -> None:
        template = admit_args(
            phase="a",
            rate=rate,
            tokens=0.0,
            deadline=-1.0,
            limit=0,
            lease="",
            lease_for=lease_for,
            probes=probes,
        )
        self._template: list[Any] = [_encoded(arg) for arg in template]

    def for_call(
        self,
        *,
        phase: str,
        tokens: float,
        deadline: float,
        limit: int,
        lease: str,
        releases: list[str] | None = None,
    ) -> list[Any]:
        """The arguments of one admission; ``releases``: leases to give back first."""
        args = self._template.copy()
        if releases:
            args.extend(releases)
        args[0] = phase
        args[2] = tokens
        args[3] = deadline
        args[4] = limit
        args[5] = lease
        return args


def _encoded(value: object) -> bytes:
    """``value`` as redis-py would put it on the wire (``repr`` for numbers)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode()


def outcome_args(
    *,
    breaker: Breaker | None,
    budget: RetryBudget | None,
    rate: RateArgs,
    lease_for: float,
    now: float | None = None,
) -> list[Any]:
    """The fixed head of `OUTCOMES`'s arguments; the queued operations follow it."""
    slow_rate = 0.0
    if breaker is not None and breaker.slow_call_s is not None:
        slow_rate = breaker.slow_call_rate or breaker.failure_rate
    settings = _joined(
        (
            1 if breaker is None else breaker.window,
            1 if breaker is None else breaker.min_calls,
            1.0 if breaker is None else breaker.failure_rate,
            slow_rate,
            0.0 if breaker is None else breaker.open_for,
            lease_for,
            IDLE,
            *rate,
            UNIT,
            0 if budget is None else round(budget.min_per_second * budget.ttl * UNIT),
            1.0 if budget is None else budget.ttl / 10,
        )
    )
    return [settings, "" if now is None else now]


def _joined(numbers: tuple[float, ...]) -> str:
    """A gate's fixed settings as one argument (the script splits it): fewer arguments are
    cheaper to send than many, and these never change."""
    return " ".join(repr(number) for number in numbers)
