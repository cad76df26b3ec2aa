"""The kernel carries out what its stages say, and owes each exactly one ``free`` (when it
holds) and one ``after`` for every attempt it took in."""

from __future__ import annotations

import asyncio
import threading

import pytest

import sluice
from sluice._core.stage import Stage
from sluice._stages.breaker import CircuitBreaker
from sluice._stages.cooldown import Cooldown
from sluice._stages.hedge_delay import HedgeDelay
from sluice._stages.permits import ConcurrencyLimiter
from sluice._stages.rate import RateLimiter
from tests.core.stagekit import Recorder, ScriptedState, kernel_with, later, ok, run


def now() -> float:
    return asyncio.get_running_loop().time()


def test_every_stage_implements_the_protocol() -> None:
    stages = [
        CircuitBreaker(sluice.Breaker(), gate="g"),
        Cooldown(gate="g"),
        RateLimiter(sluice.Rate(rps=1), gate="g"),
        ConcurrencyLimiter(sluice.Concurrency(1), gate="g"),
        HedgeDelay(sluice.Hedge(after="p95")),
    ]
    for stage in stages:
        assert isinstance(stage, Stage), type(stage).__name__
        assert {stage.admits, stage.holds, stage.after_success} <= {True, False}


async def test_a_success_goes_through_every_stage_in_order() -> None:
    log: list[tuple[str, ...]] = []
    first = Recorder("first", log)
    second = Recorder("second", log, holds=True)
    kernel = kernel_with(ScriptedState((first, second)))
    assert await run(kernel, ok) == "ok"
    assert log == [
        ("first", "before", "0"),
        ("second", "before", "0"),
        ("second", "free"),
        ("first", "after", "ok", "issued"),
        ("second", "after", "ok", "issued"),
    ]


async def test_instructions_are_carried_out_at_exact_instants() -> None:
    log: list[tuple[str, ...]] = []
    sleeper = Recorder("sleeper", log, steps=[2.5])
    tripper = Recorder("tripper", log, steps=[later(1.0, then=0.5)])
    kernel = kernel_with(ScriptedState((sleeper, tripper)))
    starts: list[float] = []

    async def upstream() -> str:
        starts.append(now())
        return "ok"

    await run(kernel, upstream)
    # 2.5 s asked by the first, then a 1 s round trip that asks for 0.5 s more.
    assert starts == [4.0]
    assert log[:2] == [("sleeper", "before", "0"), ("tripper", "before", "2.5")]


async def test_a_refusal_gives_back_what_the_earlier_stages_booked() -> None:
    log: list[tuple[str, ...]] = []
    booked = Recorder("booked", log, holds=True)
    refuser = Recorder("refuser", log, steps=[sluice.RejectedError("no", gate="g")])
    never = Recorder("never", log)
    kernel = kernel_with(ScriptedState((booked, refuser, never)))
    calls = 0

    async def upstream() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(sluice.RejectedError):
        await run(kernel, upstream)
    assert calls == 0
    assert log == [
        ("booked", "before", "0"),
        ("refuser", "before", "0"),
        ("booked", "free"),
        ("booked", "after", "RejectedError", "never issued"),
    ]


async def test_a_wait_cut_short_is_undone_by_the_stage_that_asked_for_it() -> None:
    log: list[tuple[str, ...]] = []
    waiter = Recorder("waiter", log, steps=[100.0], holds=True)
    kernel = kernel_with(ScriptedState((waiter,)))
    task = asyncio.create_task(run(kernel, ok))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == [
        ("waiter", "before", "0"),
        ("waiter", "free"),
        ("waiter", "after", "CancelledError", "never issued"),
    ]


async def test_a_failure_reaches_stages_that_ignore_successes() -> None:
    log: list[tuple[str, ...]] = []
    quiet = Recorder("quiet", log, after_success=False)
    kernel = kernel_with(ScriptedState((quiet,)))
    await run(kernel, ok)
    assert log == [("quiet", "before", "0")]

    async def broken() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await run(kernel, broken)
    assert log[-1] == ("quiet", "after", "ConnectionError", "issued")


async def test_a_stage_that_does_not_admit_is_not_asked() -> None:
    log: list[tuple[str, ...]] = []
    silent = Recorder("silent", log, admits=False)
    kernel = kernel_with(ScriptedState((silent,)))
    await run(kernel, ok)
    assert log == [("silent", "after", "ok", "issued")]


async def test_a_permit_is_freed_when_the_thread_is_free_not_when_the_caller_leaves() -> None:
    log: list[tuple[str, ...]] = []
    permit = Recorder("permit", log, holds=True)
    kernel = kernel_with(ScriptedState((permit,)), timeout=1.0)
    release = threading.Event()

    def blocking() -> None:
        release.wait(10.0)

    with pytest.raises(sluice.AttemptTimeout):
        await run(kernel, blocking)
    assert ("permit", "free") not in log  # the caller left; the thread still runs
    assert log[-1] == ("permit", "after", "AttemptTimeout", "issued")
    release.set()
    for _ in range(200):
        if ("permit", "free") in log:
            break
        await asyncio.sleep(0.01)
    assert log.count(("permit", "free")) == 1
    await kernel.aclose()


async def test_retries_ask_the_stages_again_for_every_attempt() -> None:
    log: list[tuple[str, ...]] = []
    stage = Recorder("stage", log, after_success=False)
    kernel = kernel_with(
        ScriptedState((stage,)),
        retry=sluice.Retry(attempts=3, backoff=sluice.Backoff.constant(1.0, jitter="none")),
    )
    failures = [ConnectionError("a"), ConnectionError("b")]

    async def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert await run(kernel, flaky) == "ok"
    befores = [entry for entry in log if entry[1] == "before"]
    assert befores == [("stage", "before", "0"), ("stage", "before", "1"), ("stage", "before", "2")]
