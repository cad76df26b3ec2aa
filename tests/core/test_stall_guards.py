"""No single answer from the upstream, and no single number from the caller, can stall a gate.

Through the gate on virtual time, at exact instants: an empty budget paces instead of pausing,
a 429 pauses everyone only when the quota is spent, a Retry-After is capped, tokens the
upstream never counted go back, and one estimate cannot leave more than a minute of debt.
"""

from __future__ import annotations

import asyncio
import math

import pytest

import sluice
from tests.helpers import Upstream


def now() -> float:
    return asyncio.get_running_loop().time()


class Refused(Exception):
    """An upstream refusal as an HTTP client reports it: a status, and the error protocol."""

    def __init__(self, status: int, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.overloaded = status in (429, 503)
        self.retryable = status in (429, 503)


async def test_an_empty_request_budget_paces_instead_of_pausing_for_the_reset() -> None:
    gate = sluice.Gate()
    # 600 a minute and none left: the budget is full again in 60 s, but the next request
    # is accepted 0.1 s from now.
    gate.observe_limits(requests_limit=600, requests_remaining=0, requests_reset=60.0)
    stats = gate.statistics()
    assert stats.paused_for == 0.0
    assert stats.rate is not None
    assert stats.rate.delay == pytest.approx(0.1)
    upstream = Upstream()
    await asyncio.gather(*(gate.run(upstream) for _ in range(3)))
    assert upstream.starts == pytest.approx([0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("report", "starts"),
    [
        # 590 of 600 left: the other call goes out at once, the refused one retries after its
        # Retry-After.
        ({"requests_limit": 600, "requests_remaining": 590}, [0.2, 1.1]),
        # Nothing left: everyone waits for the Retry-After.
        ({"requests_remaining": 0}, [1.1, 1.1]),
    ],
)
async def test_a_429_pauses_everyone_only_when_the_quota_is_spent(
    report: dict[str, float], starts: list[float]
) -> None:
    gate = sluice.Gate(retry=sluice.Retry(attempts=2))
    upstream = Upstream(latency=0.1)
    first = True

    async def call() -> object:
        nonlocal first
        if first:
            first = False
            await asyncio.sleep(0.1)
            gate.observe_limits(**report)  # the 429's own headers, read before it is raised
            raise Refused(429, retry_after=1.0)
        return await upstream()

    async def later(delay: float) -> object:
        await asyncio.sleep(delay)
        return await gate.run(call)

    await asyncio.gather(later(0.0), later(0.2))
    assert upstream.starts == pytest.approx(starts)


async def test_a_day_long_retry_after_pauses_the_gate_for_max_retry_after_at_most() -> None:
    gate = sluice.Gate(retry=sluice.Retry(max_retry_after=30.0))
    with pytest.raises(Refused):  # not retried either: it asks for more than 30 s
        await gate.run(Upstream(script=[Refused(429, retry_after=86_400.0)]))
    assert gate.statistics().paused_for == 30.0
    upstream = Upstream()
    await gate.run(upstream)
    assert upstream.starts == [30.0]


async def test_without_a_retry_policy_the_default_cap_applies() -> None:
    gate = sluice.Gate(timeout=10.0)
    with pytest.raises(Refused):
        await gate.run(Upstream(script=[Refused(503, retry_after=86_400.0)]))
    assert gate.statistics().paused_for == 120.0


async def test_a_caller_who_cannot_wait_out_the_pause_fails_at_once_with_retry_after() -> None:
    gate = sluice.Gate(retry=sluice.Retry(), timeout=sluice.Timeout(total=10.0))
    with pytest.raises(Refused):
        await gate.run(Upstream(script=[Refused(429, retry_after=86_400.0)]))
    with pytest.raises(sluice.DeadlineExceeded) as info:
        await gate.run(Upstream())
    assert info.value.retry_after == 120.0
    assert now() == 0.0


@pytest.mark.parametrize("seconds", [math.inf, math.nan, -1.0, "x", None, True])
async def test_an_endless_or_meaningless_pause_is_refused(seconds: object) -> None:
    gate = sluice.Gate()
    with pytest.raises(sluice.ConfigError, match=r"gate\.pause\(seconds=\.\.\.\)"):
        gate.pause(seconds)  # type: ignore[arg-type]
    assert gate.statistics().paused_for == 0.0


async def test_tokens_of_a_request_the_upstream_refused_go_back() -> None:
    gate = sluice.Gate(rate=sluice.Rate(tpm=600, token_burst=100))  # 10 tokens per second
    # A 400 (context length exceeded): the server never counted those tokens.
    with pytest.raises(Refused):
        await gate.run(Upstream(script=[Refused(400)]), tokens=100)
    upstream = Upstream()
    await gate.run(upstream, tokens=100)
    assert upstream.starts == [0.0]


async def test_one_huge_estimate_leaves_at_most_a_minute_of_debt() -> None:
    gate = sluice.Gate(rate=sluice.Rate(tpm=60_000))  # 1,000 tokens a second, 1,000 of burst
    await gate.run(Upstream(), tokens=1e12)
    stats = gate.statistics()
    assert stats.rate is not None
    assert stats.rate.delay == pytest.approx(59.0)  # booked as 60,000 tokens: 59 s of debt
    upstream = Upstream()
    await gate.run(upstream, tokens=1)
    assert upstream.starts == pytest.approx([59.001])


@pytest.mark.parametrize("tokens", [math.nan, math.inf, -5])
async def test_a_bad_token_estimate_is_refused(tokens: float) -> None:
    gate = sluice.Gate(rate=sluice.Rate(tpm=60_000))
    upstream = Upstream()
    with pytest.raises(ValueError, match=r"tokens="):
        await gate.run(upstream, tokens=tokens)
    assert upstream.starts == []
