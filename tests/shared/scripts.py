"""Drive the shared gate's Lua scripts directly, on instants the test chooses.

The scripts take the time from their caller when given one, so the tests compare them with
the local state machines (`Gcra`, `CircuitBreaker`) at exactly the same instants.

    driver = ScriptDriver(redis_url, rate=Rate(rps=10))
    reply = driver.admit(now=100.0, tokens=0)
"""

from __future__ import annotations

from typing import Any

import redis

from sluice import Breaker, Rate
from sluice.stores._redis_scripts import ADMIT, OUTCOMES, admit_args, outcome_args, rate_args

KEYS = ("{t:gate}", "{t:gate}:leases", "{t:gate}:window", "{t:gate}:budget")


class Reply:
    """ADMIT's answer, named."""

    def __init__(self, raw: list[Any]) -> None:
        self.code = int(raw[0])
        self.seconds = float(raw[1])
        self.ticket = int(raw[2])
        self.reserved = float(raw[3])
        self.held = int(raw[4])
        self.released = int(raw[5])


class ScriptDriver:
    """One gate's scripts against a real Redis, with a chosen clock."""

    def __init__(
        self,
        url: str,
        *,
        rate: Rate | None = None,
        breaker: Breaker | None = None,
        limit: int = 0,
        lease_for: float = 10.0,
    ) -> None:
        self.client = redis.Redis.from_url(url)
        self.rate = rate_args(rate)
        self.breaker = breaker
        self.limit = limit
        self.lease_for = lease_for

    def admit(
        self,
        *,
        now: float,
        tokens: float = 0.0,
        deadline: float = -1.0,
        lease: str = "",
        phase: str = "a",
        releases: tuple[str, ...] = (),
    ) -> Reply:
        args = admit_args(
            phase=phase,
            rate=self.rate,
            tokens=tokens,
            deadline=deadline,
            limit=self.limit if lease else 0,
            lease=lease,
            lease_for=self.lease_for,
            probes=0 if self.breaker is None else self.breaker.half_open_probes,
            now=now,
        )
        args.extend(releases)
        return Reply(self.client.eval(ADMIT.source, len(KEYS), *KEYS, *args))  # type: ignore[no-untyped-call]

    def outcomes(self, *ops: Any, now: float) -> list[Any]:
        head = outcome_args(
            breaker=self.breaker, budget=None, rate=self.rate, lease_for=self.lease_for, now=now
        )
        flat = [part for op in ops for part in op]
        return list(self.client.eval(OUTCOMES.source, len(KEYS), *KEYS, *head, *flat))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.client.close()
