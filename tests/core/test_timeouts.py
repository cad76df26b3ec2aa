"""Attempt timeouts, the total budget, and deadlines seen by nested gates."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

import sluice
from tests.helpers import Upstream

CONSTANT = sluice.Backoff.constant(1.0)


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_attempt_timeout_is_a_retryable_timeout_error() -> None:
    upstream = Upstream(latency=100.0)
    gate = sluice.Gate("slow", timeout=5.0)
    with pytest.raises(TimeoutError) as info:
        await gate.run(upstream)
    assert isinstance(info.value, sluice.AttemptTimeout)
    assert isinstance(info.value, sluice.SluiceError)
    assert info.value.timeout == 5.0
    assert info.value.gate == "slow"
    assert now() == 5.0
    assert gate.statistics().timeouts == 1


async def test_timed_out_attempts_are_retried() -> None:
    upstream = Upstream(latency=100.0)
    gate = sluice.Gate(timeout=5.0, retry=sluice.Retry(attempts=3, backoff=CONSTANT))
    with pytest.raises(sluice.AttemptTimeout):
        await gate.run(upstream)
    assert upstream.starts == [0.0, 6.0, 12.0]
    assert now() == 17.0


async def test_a_timeout_error_raised_by_the_call_itself_is_not_an_attempt_timeout() -> None:
    own = TimeoutError("the SDK's own")
    gate = sluice.Gate(timeout=5.0)
    with pytest.raises(TimeoutError) as info:
        await gate.run(Upstream(script=[own]))
    assert info.value is own


async def test_total_budget_spans_attempts_and_backoff() -> None:
    upstream = Upstream(latency=3.0, script=[TimeoutError("a"), TimeoutError("b"), "late"])
    gate = sluice.Gate(
        timeout=sluice.Timeout(total=9.0), retry=sluice.Retry(attempts=5, backoff=CONSTANT)
    )
    with pytest.raises(sluice.DeadlineExceeded) as info:
        await gate.run(upstream)
    assert now() == 9.0  # attempts at 0 and 4 failed; the third, from 8, was cut at 9
    assert upstream.starts == [0.0, 4.0, 8.0]
    assert isinstance(info.value.__cause__, TimeoutError)
    assert str(info.value.__cause__) == "b"
    assert [a.number for a in sluice.attempt_history(info.value)] == [1, 2]
    assert not info.value.retryable


async def test_retry_stops_when_the_next_sleep_would_pass_the_deadline() -> None:
    upstream = Upstream(script=[TimeoutError("only")] * 5)
    gate = sluice.Gate(
        timeout=sluice.Timeout(total=2.5),
        retry=sluice.Retry(attempts=5, backoff=sluice.Backoff.constant(2.0)),
    )
    with pytest.raises(TimeoutError) as info:
        await gate.run(upstream)
    assert str(info.value) == "only"  # the real error, not a deadline error at 2.5 s
    assert now() == 2.0
    assert "would pass the deadline" in info.value.__notes__[0]


async def test_deadline_is_visible_inside_the_call() -> None:
    seen: list[tuple[float | None, float | None]] = []

    async def probe() -> None:
        await asyncio.sleep(1.0)
        seen.append((sluice.current_deadline(), sluice.time_remaining()))

    await sluice.Gate(timeout=sluice.Timeout(total=10.0)).run(probe)
    assert seen == [(10.0, 9.0)]
    assert sluice.current_deadline() is None


async def test_inner_gate_never_runs_past_the_outer_deadline() -> None:
    inner = sluice.Gate("inner", timeout=100.0)
    outer = sluice.Gate("outer", timeout=sluice.Timeout(total=3.0))

    async def step() -> object:
        return await inner.run(Upstream(latency=50.0))

    with pytest.raises(sluice.DeadlineExceeded) as info:
        await outer.run(step)
    assert now() == 3.0
    assert info.value.gate in {"outer", "inner"}


async def test_inner_gate_does_not_queue_past_the_outer_deadline() -> None:
    inner = sluice.Gate("inner", concurrency=1)
    blocker = asyncio.create_task(inner.run(Upstream(latency=60.0)))
    await asyncio.sleep(0)
    outer = sluice.Gate("outer", timeout=sluice.Timeout(total=4.0))
    with pytest.raises(sluice.DeadlineExceeded):
        await outer.run(inner.run, Upstream())
    assert now() == 4.0
    assert inner.statistics().waiting == 0
    blocker.cancel()
    await asyncio.gather(blocker, return_exceptions=True)


async def test_rate_wait_beyond_the_deadline_fails_immediately() -> None:
    inner = sluice.Gate("inner", rate=sluice.Rate(rpm=6))  # one call per 10 s
    await inner.run(Upstream())
    outer = sluice.Gate("outer", timeout=sluice.Timeout(total=5.0))
    with pytest.raises(sluice.DeadlineExceeded, match="rate limit admits this call in 10s"):
        await outer.run(inner.run, Upstream())
    assert now() == 0.0  # nothing was waited for: the slot was known to be too late
    assert await inner.run(Upstream()) == "ok"  # and no slot was booked by the refusal
    assert now() == 10.0


async def test_deadline_reaches_inner_gates_in_child_tasks() -> None:
    inner = sluice.Gate("inner")

    async def fan_out() -> list[object]:
        tasks = [asyncio.create_task(inner.run(Upstream(latency=30.0))) for _ in range(3)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    outer = sluice.Gate("outer", timeout=sluice.Timeout(total=2.0))
    # The child tasks copy the context, so the inner gate sees the outer deadline and enforces
    # it itself even though the outer timer only cancels the parent task.
    with pytest.raises(sluice.DeadlineExceeded):
        await outer.run(fan_out)
    await asyncio.sleep(0)
    assert inner.statistics().active == 0


async def test_own_shorter_budget_wins_over_the_outer_one() -> None:
    inner = sluice.Gate("inner", timeout=sluice.Timeout(total=1.0))
    outer = sluice.Gate("outer", timeout=sluice.Timeout(total=10.0))
    with pytest.raises(sluice.DeadlineExceeded) as info:
        await outer.run(inner.run, Upstream(latency=5.0))
    assert info.value.gate == "inner"
    assert now() == 1.0


async def test_a_deadline_already_past_fails_before_calling() -> None:
    upstream = Upstream()
    inner = sluice.Gate("inner", retry=2)

    async def late() -> object:
        await asyncio.sleep(5.0)
        return await inner.run(upstream)

    with pytest.raises(sluice.DeadlineExceeded):
        await sluice.Gate(timeout=sluice.Timeout(total=5.0)).run(late)
    assert upstream.starts == []


async def test_a_call_that_ignores_its_attempt_timeout_is_still_stopped_at_the_deadline() -> None:
    # Its deadline timer is armed lazily; the attempt timer firing is what arms it here.
    async def stubborn() -> str:
        try:
            await asyncio.sleep(100.0)
        except asyncio.CancelledError:
            await asyncio.sleep(100.0)  # swallows the attempt timeout and goes on
        return "too late"

    gate = sluice.Gate(timeout=sluice.Timeout(attempt=1.0, total=5.0))
    with pytest.raises(sluice.DeadlineExceeded):
        await gate.run(stubborn)
    assert now() == 5.0
    assert gate.statistics().timeouts == 1


@pytest.mark.parametrize(
    ("policy", "error", "at"),
    [
        # The deadline bounds the wait for a permit...
        (sluice.Timeout(total=3.0), sluice.DeadlineExceeded, 3.0),
        # ...and with an attempt timeout, so does a line that stops moving: no permit came
        # back for that long, as the holder keeps its permit past every timer.
        (sluice.Timeout(attempt=1.0, total=3.0), sluice.OverloadedError, 1.0),
    ],
)
async def test_a_wait_for_a_permit_held_past_every_timer_is_bounded(
    policy: sluice.Timeout, error: type[Exception], at: float
) -> None:
    gate = sluice.Gate(concurrency=1, timeout=policy)
    hold = asyncio.Event()

    async def holder() -> str:
        while not hold.is_set():  # keeps its permit past every timer
            with contextlib.suppress(asyncio.CancelledError):
                await hold.wait()
        return "held"

    first = asyncio.create_task(gate.run(holder))
    await asyncio.sleep(0)
    with pytest.raises(error):
        await gate.run(Upstream())  # waits for the permit the first holds
    assert now() == at
    hold.set()
    assert await first == "held"


async def test_per_call_options_replace_the_gates_timeout_and_leave_keywords_alone() -> None:
    gate = sluice.Gate(timeout=30.0)
    seen: dict[str, object] = {}

    async def slow(*, timeout: float) -> str:  # noqa: ASYNC109 - an SDK-like signature
        seen["timeout"] = timeout  # the function's own keyword, passed through
        await asyncio.sleep(10.0)
        return "done"

    with pytest.raises(sluice.AttemptTimeout) as caught:
        await gate.options(timeout=2.0).run(slow, timeout=99.0)
    assert now() == 2.0
    assert caught.value.timeout == 2.0
    assert seen == {"timeout": 99.0}
    assert await gate.run(slow, timeout=1.0) == "done"  # the gate's own 30 s still applies
    assert now() == 12.0


async def test_a_per_call_total_budget_covers_retries() -> None:
    gate = sluice.Gate(retry=sluice.Retry(attempts=5, backoff=sluice.Backoff.constant(1.0)))
    durations = [1.0, 10.0]

    async def failing_then_hanging() -> None:
        await asyncio.sleep(durations.pop(0))
        raise ConnectionError("down")

    outcome = await gate.options(timeout=sluice.Timeout(total=3.5)).run_outcome(
        failing_then_hanging
    )
    assert isinstance(outcome.error, sluice.DeadlineExceeded)
    assert (now(), outcome.attempts) == (3.5, 2)  # 1 s, a 1 s backoff, then cut at 3.5 s


def test_options_name_what_is_wrong() -> None:
    gate = sluice.Gate()
    with pytest.raises(sluice.ConfigError, match=r"gate.options\(timeout=...\)"):
        gate.options(timeout="soon")  # type: ignore[arg-type]
