"""gate.map and gate.map_sync: order, first-failure cancellation, outcomes, lazy input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import sluice
from tests.fanout.helpers import Boom, Script, now, other_tasks
from tests.helpers import Flaky


async def test_results_come_in_input_order() -> None:
    script = Script(latency=lambda item: 5.0 - item)  # later items finish first
    gate = sluice.Gate(concurrency=5)
    assert await gate.map(script, range(5)) == [0, 10, 20, 30, 40]
    assert now() == 5.0


async def test_unordered_results_come_in_completion_order() -> None:
    script = Script(latency=lambda item: 5.0 - item)
    gate = sluice.Gate(concurrency=5)
    assert await gate.map(script, range(5), ordered=False) == [40, 30, 20, 10, 0]


async def test_empty_input_gives_an_empty_list() -> None:
    gate = sluice.Gate(concurrency=5)
    assert await gate.map(Script(), []) == []
    assert await gate.map(Script(), iter([])) == []


async def test_the_gate_concurrency_limit_applies_per_item() -> None:
    script = Script()
    gate = sluice.Gate(concurrency=3)
    await gate.map(script, range(10))
    assert script.peak == 3
    assert now() == 4.0  # ceil(10 / 3) rounds of 1 s
    assert gate.statistics().succeeded == 10


async def test_window_caps_calls_in_flight_on_an_unbounded_gate() -> None:
    script = Script()
    await sluice.Gate().map(script, range(6), window=2)
    assert script.peak == 2
    assert now() == 3.0


async def test_a_window_above_the_limit_never_queues_for_permits() -> None:
    script = Script()
    gate = sluice.Gate(concurrency=sluice.Concurrency(2, max_queue=0))  # a queued call fails
    assert await gate.map(script, range(6), window=50) == [0, 10, 20, 30, 40, 50]
    assert script.peak == 2


async def test_retry_applies_per_item() -> None:
    calls: dict[int, int] = {}

    async def flaky(item: int) -> int:
        calls[item] = calls.get(item, 0) + 1
        if item % 2 and calls[item] == 1:
            raise Flaky()
        return item

    gate = sluice.Gate(
        concurrency=4, retry=sluice.Retry(attempts=2, backoff=sluice.Backoff.constant(1.0))
    )
    assert await gate.map(flaky, range(4)) == [0, 1, 2, 3]
    assert calls == {0: 1, 1: 2, 2: 1, 3: 2}
    assert gate.statistics().retried == 2


async def test_rate_limit_paces_items() -> None:
    script = Script(latency=lambda item: 0.0)
    gate = sluice.Gate(rate=sluice.Rate(rps=2, burst=1))
    await gate.map(script, range(4))
    assert sorted(script.started.values()) == [0.0, 0.5, 1.0, 1.5]


async def test_first_failure_cancels_the_rest_and_is_raised() -> None:
    script = Script(latency=lambda item: 1.0 + item, fail={1: Boom("item 1")})
    gate = sluice.Gate(concurrency=3)
    with pytest.raises(Boom) as info:
        await gate.map(script, range(6))
    assert now() == 2.0  # item 1 fails at t=2; nothing waits for the others
    assert sorted(script.started) == [0, 1, 2, 3]  # 0 finished at t=1, then 3 started
    assert sorted(script.cancelled) == [2, 3]
    assert 4 not in script.started
    notes = info.value.__notes__
    assert any("item 1 failed" in note and "cancelled" in note for note in notes)
    assert dict(info.value.sluice_other_errors) == {}  # type: ignore[attr-defined]
    assert gate.statistics().cancelled == 2
    assert not other_tasks()


async def test_failures_while_stopping_are_attached_not_raised() -> None:
    async def call(item: int) -> int:
        if item == 0:
            await asyncio.sleep(1.0)
            raise Boom("first")
        try:
            await asyncio.sleep(10.0)
        except asyncio.CancelledError:  # turns its cancellation into an error
            raise ValueError(f"cleanup of {item} failed") from None
        return item

    with pytest.raises(Boom) as info:
        await sluice.Gate(concurrency=3).map(call, range(3))
    others = info.value.sluice_other_errors  # type: ignore[attr-defined]
    assert sorted(others) == [1, 2]
    assert all(isinstance(error, ValueError) for error in others.values())
    assert any("2 more failed" in note for note in info.value.__notes__)


async def test_errors_return_gives_outcomes_with_attempts_and_elapsed() -> None:
    attempts: dict[int, int] = {}

    async def call(item: int) -> int:
        attempts[item] = attempts.get(item, 0) + 1
        await asyncio.sleep(1.0)
        if item == 1 and attempts[item] == 1:
            raise Flaky("once")
        if item == 2:
            raise Boom("always")
        return item

    gate = sluice.Gate(
        concurrency=3, retry=sluice.Retry(attempts=3, backoff=sluice.Backoff.constant(0.5))
    )
    outcomes = await gate.map(call, range(3), errors="return")
    first, second, third = outcomes
    assert isinstance(first, sluice.Ok)
    assert (first.value, first.attempts, first.elapsed) == (0, 1, 1.0)
    assert isinstance(second, sluice.Ok)
    assert (second.value, second.attempts, second.elapsed) == (1, 2, 2.5)
    assert isinstance(third, sluice.Err)
    assert isinstance(third.error, Boom)
    assert (third.attempts, third.elapsed) == (1, 1.0)


async def test_lazy_pull_from_a_generator_keeps_tasks_bounded() -> None:
    pulled = 0
    peak_tasks = 0
    peak_ahead = 0
    done = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for item in range(2_000):
            pulled += 1
            yield item

    async def call(item: int) -> int:
        nonlocal peak_tasks, peak_ahead, done
        peak_tasks = max(peak_tasks, len(other_tasks()))
        peak_ahead = max(peak_ahead, pulled - done)
        await asyncio.sleep(0.001)
        done += 1
        return item

    results = await sluice.Gate(concurrency=8).map(call, items())
    assert results == list(range(2_000))
    assert peak_tasks <= 8  # the workers, not one task per item
    assert peak_ahead <= 8  # an item is pulled only when a worker is free for it


async def test_async_iterator_input() -> None:
    async def items() -> AsyncIterator[int]:
        for item in range(5):
            await asyncio.sleep(0.1)
            yield item

    script = Script(latency=lambda item: 1.0)
    assert await sluice.Gate(concurrency=2).map(script, items()) == [0, 10, 20, 30, 40]
    assert script.peak == 2


async def test_an_input_error_stops_the_map_and_is_raised() -> None:
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise KeyError("bad row")

    script = Script()
    with pytest.raises(KeyError) as info:
        await sluice.Gate(concurrency=4).map(script, items(), errors="return")
    assert any("the input raised" in note for note in info.value.__notes__)
    assert sorted(script.cancelled) == [0, 1]
    assert not other_tasks()


async def test_cancelling_the_caller_cancels_every_item() -> None:
    script = Script(latency=lambda item: 10.0)
    task = asyncio.create_task(sluice.Gate(concurrency=4).map(script, range(100)))
    await asyncio.sleep(1.0)
    assert len(script.started) == 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(script.cancelled) == [0, 1, 2, 3]
    assert now() == 1.0
    assert not other_tasks()


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"items": 5}, TypeError, "gate.map(items=...) must be an iterable"),
        ({"window": 0}, sluice.ConfigError, "gate.map(window=...) must be an integer >= 1, got 0"),
        ({"errors": "ignore"}, sluice.ConfigError, "must be 'raise' or 'return', got 'ignore'"),
        ({"fn": "nope"}, TypeError, "gate.map(fn=...) must be callable"),
    ],
)
async def test_bad_input_names_the_parameter(
    kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    call: dict[str, Any] = {"fn": Script(), "items": [1, 2]} | kwargs
    with pytest.raises(error) as info:
        await sluice.Gate().map(call.pop("fn"), call.pop("items"), **call)
    assert fragment in str(info.value)


def test_map_sync_runs_async_and_plain_functions() -> None:
    async def double(item: int) -> int:
        await asyncio.sleep(0.001)
        return 2 * item

    def fail_on_two(item: int) -> int:
        if item == 2:
            raise Boom("two")
        return item

    gate = sluice.Gate("sync", concurrency=4)
    try:
        assert gate.map_sync(double, range(5)) == [0, 2, 4, 6, 8]
        outcomes = gate.map_sync(fail_on_two, range(4), errors="return")
        assert [outcome.ok for outcome in outcomes] == [True, True, False, True]
        with pytest.raises(Boom):
            gate.map_sync(fail_on_two, range(4))
        with pytest.raises(sluice.ConfigError, match=r"gate\.map_sync\(window=\.\.\.\)"):
            gate.map_sync(double, [1], window=0)
    finally:
        gate.close()
