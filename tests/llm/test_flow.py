"""Flow control end to end on virtual time: Retry-After, the shared cooldown, and limits
learned from the server's headers. Instants are exact."""

from __future__ import annotations

import asyncio
import math
import time
from email.utils import formatdate

import pytest

import sluice
from sluice import llm
from sluice.llm import MockResponse, Request

from .fakes import MESSAGES, client_for, error_body, ok


def too_many(**headers: str) -> MockResponse:
    return MockResponse(
        429, json=error_body("slow down", code="rate_limit_exceeded"), headers=headers
    )


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5),
        ({"retry-after": "4"}, 4.0),
        ({"retry-after": "Thu, 01 Jan 2099 00:00:00 GMT"}, None),  # far future: not honoured
    ],
)
async def test_retry_after_429_at_the_exact_instant(
    headers: dict[str, str], wait: float | None
) -> None:
    client, script, _ = client_for(too_many(**headers), ok("done"))
    async with client:
        if wait is None:
            # More than the 120 s the default retry accepts: raised at once, not retried.
            with pytest.raises(llm.RateLimitError) as caught:
                await client.chat(model="m", messages=MESSAGES)
            assert caught.value.retry_after is not None
            assert caught.value.retry_after > 120
            assert script.times == [0.0]
            return
        result = await client.chat(model="m", messages=MESSAGES)
    assert result.text == "done"
    assert script.times == [0.0, wait]


async def test_retry_after_http_date_is_honoured() -> None:
    # The date is wall-clock based; the retry happens on the loop's clock, so compare roughly.
    later = formatdate(time.time() + 30, usegmt=True)
    client, script, _ = client_for(too_many(**{"retry-after": later}), ok())
    async with client:
        await client.chat(model="m", messages=MESSAGES)
    assert 28.0 <= script.times[1] <= 30.0


async def test_503_with_retry_after_is_honoured_too() -> None:
    busy = MockResponse(503, json=error_body("overloaded"), headers={"retry-after": "3"})
    client, script, _ = client_for(busy, ok())
    async with client:
        await client.chat(model="m", messages=MESSAGES)
    assert script.times == [0.0, 3.0]


async def test_a_429_pauses_every_new_call_of_the_gate() -> None:
    def answer(request: Request) -> MockResponse:
        now = asyncio.get_running_loop().time()
        if request.json()["messages"][0]["content"] == "first" and now == 0.0:
            return too_many(**{"retry-after": "5"})
        return ok()

    client, script, _ = client_for(answer)
    loop_time = asyncio.get_running_loop().time

    async def later(delay: float, text: str) -> float:
        await asyncio.sleep(delay)
        await client.chat(model="m", messages=[{"role": "user", "content": text}])
        return loop_time()

    async with client:
        finished = await asyncio.gather(later(0, "first"), later(1, "second"), later(6, "third"))
        paused = client.gate.statistics().paused_for
    # The second call, started at t=1 during the cooldown, goes out when it ends (t=5), with the
    # retry of the first; the third, after the cooldown, is not delayed.
    assert sorted(script.times) == [0.0, 5.0, 5.0, 6.0]
    assert list(finished) == [5.0, 5.0, 6.0]
    assert paused == 0.0


async def test_cooldown_shared_by_two_clients_on_one_gate() -> None:
    gate = sluice.Gate("shared", retry=sluice.Retry(attempts=2))
    first, first_script, _ = client_for(too_many(**{"retry-after": "2"}), ok(), gate=gate)
    second, second_script, _ = client_for(ok(), gate=gate)

    async def after(delay: float) -> None:
        await asyncio.sleep(delay)
        await second.chat(model="m", messages=MESSAGES)

    async with first, second:
        await asyncio.gather(first.chat(model="m", messages=MESSAGES), after(0.5))
    assert first_script.times == [0.0, 2.0]
    assert second_script.times == [2.0]


class Upstream:
    """A server with a requests-per-minute bucket that reports it in OpenAI's headers
    (``report=False`` hides them) and answers 429 when it is empty."""

    def __init__(self, per_minute: int, start: int, report: bool = True) -> None:
        self.per_minute = per_minute
        self.tokens = float(start)
        self.updated = 0.0
        self.report = report
        self.refused = 0
        self.times: list[float] = []

    def __call__(self, request: Request) -> MockResponse:
        now = asyncio.get_running_loop().time()
        rate = self.per_minute / 60.0
        self.tokens = min(self.per_minute, self.tokens + (now - self.updated) * rate)
        self.updated = now
        self.times.append(now)
        headers: dict[str, str] = {}
        if self.tokens < 1:
            self.refused += 1
            wait = (1 - self.tokens) / rate
            return too_many(**{"retry-after": str(math.ceil(wait))})
        self.tokens -= 1
        if self.report:
            headers = {
                "x-ratelimit-limit-requests": str(self.per_minute),
                "x-ratelimit-remaining-requests": str(math.floor(self.tokens)),
                "x-ratelimit-reset-requests": f"{(1 - self.tokens % 1) / rate:.3f}s",
            }
        return MockResponse(json={"choices": []}, headers=headers)


@pytest.mark.parametrize("report", [True, False])
async def test_header_driven_limits_slow_down_before_refusal(report: bool) -> None:
    upstream = Upstream(per_minute=60, start=3, report=report)
    client, _, _ = client_for(upstream)  # no rate configured
    async with client:
        for _ in range(6):
            await client.chat(model="m", messages=MESSAGES)
        learned = client.gate.statistics().rate
    if report:
        assert upstream.refused == 0
        # Learned from the first answer: 1 a second, with one second's burst (the upstream's
        # 3 at once would be refused by a provider enforcing the minute over a second).
        assert upstream.times == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
        assert learned is not None
        assert learned.requests_per_second == 1.0
    else:
        # Without the headers the client only learns by being refused.
        assert upstream.refused > 0
        assert learned is None


class SecondEnforcer:
    """A provider that reports the minute's budget (limit, and what the last minute left of
    it) but enforces it over a second: 600 a minute is 10 a second, and the 11th is refused."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.refused = 0
        self.bucket = 10.0  # a second's worth, refilled at 10 a second
        self.updated = 0.0

    def __call__(self, request: Request) -> MockResponse:
        now = asyncio.get_running_loop().time()
        self.bucket = min(10.0, self.bucket + (now - self.updated) * 10.0)
        self.updated = now
        if self.bucket < 1.0 - 1e-9:
            self.refused += 1
            return too_many(**{"retry-after": "1"})
        self.bucket -= 1.0
        self.times.append(now)
        used = sum(1 for t in self.times if now - t < 60.0)
        headers = {
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": str(600 - used),
        }
        return MockResponse(json={"choices": []}, headers=headers)


async def test_a_learned_limit_bursts_a_second_not_the_minute_it_reports() -> None:
    upstream = SecondEnforcer()
    client, _, _ = client_for(upstream)
    async with client:
        await client.chat(model="m", messages=MESSAGES)  # learns 600 a minute, 599 left
        await asyncio.sleep(1.0)
        await asyncio.gather(*(client.chat(model="m", messages=MESSAGES) for _ in range(20)))
    # 599 "left" would send the 20 at once and draw 10 refusals; a second's burst sends 10
    # at once, then one every 0.1 s.
    assert upstream.refused == 0
    assert upstream.times[:11] == [0.0] + [1.0] * 10
    assert upstream.times[11:] == pytest.approx([1.0 + 0.1 * i for i in range(1, 11)])


async def test_limits_reported_on_errors_are_observed_too() -> None:
    refused = MockResponse(
        429,
        json=error_body("quota"),
        headers={
            "x-ratelimit-limit-tokens": "6000",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "2s",
        },
    )
    client, script, _ = client_for(refused, ok(), token_estimator=lambda body: 100)
    async with client:
        await client.chat(model="m", messages=MESSAGES)
        learned = client.gate.statistics().rate
    assert learned is not None
    assert learned.tokens_per_minute == pytest.approx(6000)
    # None left: the retry's 100 tokens wait for the refill (100 a second), not for the 2 s
    # until the budget is full again.
    assert script.times[1] == pytest.approx(1.0)
