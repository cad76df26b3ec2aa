"""gate.stream: completion order, ordered with a bounded buffer, lazy input, cleanup."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

import pytest

import sluice
from tests.fanout.helpers import Boom, Script, now, other_tasks


async def test_outcomes_arrive_as_they_complete() -> None:
    script = Script(latency=lambda item: 3.0 - item, fail={1: Boom("one")})
    seen: list[tuple[int, bool, float]] = []
    async with sluice.Gate(concurrency=3).stream(script, range(3)) as results:
        async for index, outcome in results:
            seen.append((index, outcome.ok, now()))
    assert seen == [(2, True, 1.0), (1, False, 2.0), (0, True, 3.0)]


async def test_outcomes_carry_values_errors_and_attempts() -> None:
    script = Script(latency=lambda item: 1.0, fail={1: Boom("one")})
    gate = sluice.Gate(concurrency=2, retry=3)
    outcomes = dict([pair async for pair in gate.stream(script, range(2))])
    assert outcomes[0] == sluice.Ok(0, attempts=1, elapsed=1.0)
    assert isinstance(outcomes[1], sluice.Err)
    assert isinstance(outcomes[1].error, Boom)
    assert outcomes[1].attempts == 1  # Boom is not retryable


async def test_ordered_stream_holds_back_only_what_must_wait() -> None:
    script = Script(latency=lambda item: 3.0 if item == 0 else 1.0)
    seen: list[tuple[int, float]] = []
    async with sluice.Gate(concurrency=4).stream(script, range(4), ordered=True) as results:
        async for index, _ in results:
            seen.append((index, now()))
    assert seen == [(0, 3.0), (1, 3.0), (2, 3.0), (3, 3.0)]


async def test_ordered_buffer_is_bounded_by_the_window() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for item in range(1_000):
            pulled += 1
            yield item

    # Item 0 is slow: the others may run ahead of it, but only up to the window.
    script = Script(latency=lambda item: 100.0 if item == 0 else 1.0)
    stream = sluice.Gate(concurrency=4).stream(script, items(), ordered=True, window=10)
    peak_buffer = 0
    async with stream:
        first = await anext(stream)
        assert first[0] == 0
        assert now() == 100.0
        assert pulled == 10  # item 0 plus 9 ahead of it, then the workers wait
        assert len(script.started) == 10
        async for index, _ in stream:
            peak_buffer = max(peak_buffer, stream.buffered)
            assert pulled - index <= 10
    assert peak_buffer <= 9
    assert script.peak == 4


async def test_a_million_item_generator_stays_bounded() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for item in range(1_000_000):
            pulled += 1
            yield item

    async def call(item: int) -> int:
        await asyncio.sleep(0.001 * (item % 7))
        return item

    peak_tasks = peak_buffer = peak_running = 0
    taken = 0
    stream = sluice.Gate(concurrency=16).stream(call, items())
    async for _index, outcome in stream:
        assert outcome.ok
        taken += 1
        peak_tasks = max(peak_tasks, len(other_tasks()))
        peak_buffer = max(peak_buffer, stream.buffered)
        peak_running = max(peak_running, stream.running)
        assert pulled - taken <= 16
        if taken == 20_000:
            break
    assert peak_tasks == 16
    assert peak_buffer <= 16
    assert peak_running <= 16
    del stream
    await asyncio.sleep(0)
    assert not other_tasks()


async def test_infinite_input_is_fine() -> None:
    gate = sluice.Gate(concurrency=3)
    async with gate.stream(Script(latency=lambda item: 0.5), itertools.count()) as results:
        firsts = [index async for index, _ in _take(results, 6)]
    assert sorted(firsts) == list(range(6))
    assert not other_tasks()


async def _take(stream: AsyncIterator[Any], count: int) -> AsyncIterator[Any]:
    async for pair in stream:
        yield pair
        count -= 1
        if not count:
            return


async def test_nothing_starts_before_iteration() -> None:
    script = Script()
    stream = sluice.Gate(concurrency=2).stream(script, range(5))
    await asyncio.sleep(5.0)
    assert not script.started
    assert not other_tasks()
    await stream.aclose()


async def test_break_from_a_bare_async_for_stops_the_workers() -> None:
    script = Script(latency=lambda item: 1.0 + item)
    async for index, _ in sluice.Gate(concurrency=4).stream(script, range(100)):
        assert index == 0
        break
    await asyncio.sleep(0)
    assert not other_tasks()
    assert sorted(script.cancelled) == [1, 2, 3]  # the worker freed by item 0 never pulled


async def test_aclose_cancels_in_flight_calls_and_waits_for_the_workers() -> None:
    script = Script(latency=lambda item: 1.0 + item)
    stream = sluice.Gate(concurrency=4).stream(script, range(100))
    await anext(stream)
    await stream.aclose()
    assert not other_tasks()
    assert sorted(script.cancelled) == [1, 2, 3]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_an_exception_in_the_consumer_stops_the_workers() -> None:
    script = Script(latency=lambda item: 1.0 + item)

    async def consume() -> None:
        async with sluice.Gate(concurrency=4).stream(script, range(100)) as results:
            async for _ in results:
                raise RuntimeError("consumer gave up")

    with pytest.raises(RuntimeError, match="consumer"):
        await consume()
    assert not other_tasks()
    assert sorted(script.cancelled) == [1, 2, 3]


async def test_an_exception_in_a_bare_async_for_stops_the_workers() -> None:
    async def consume() -> None:
        async for _ in sluice.Gate(concurrency=4).stream(Script(), range(100)):
            raise RuntimeError("consumer gave up")

    with pytest.raises(RuntimeError):
        await consume()
    await asyncio.sleep(0)
    assert not other_tasks()


async def test_async_iterator_input_is_pulled_one_at_a_time() -> None:
    async def items() -> AsyncIterator[int]:
        for item in range(6):
            await asyncio.sleep(0.25)  # a slow source: pulls must not overlap
            yield item

    script = Script(latency=lambda item: 1.0)
    outcomes = [
        pair async for pair in sluice.Gate(concurrency=3).stream(script, items(), ordered=True)
    ]
    assert [index for index, _ in outcomes] == list(range(6))
    assert [outcome.value for _, outcome in outcomes] == [0, 10, 20, 30, 40, 50]
    # A worker pulls when it is free: item 3 is asked for when item 0 is done (t=1.25).
    assert script.started == {0: 0.25, 1: 0.5, 2: 0.75, 3: 1.5, 4: 1.75, 5: 2.0}


async def test_an_input_error_ends_the_stream_after_what_was_pulled() -> None:
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise KeyError("bad row")

    seen: list[int] = []

    async def consume() -> None:
        async for index, _ in sluice.Gate(concurrency=4).stream(Script(), items()):
            seen.append(index)

    with pytest.raises(KeyError):
        await consume()
    assert sorted(seen) == [0, 1]
    assert not other_tasks()


async def test_cancelling_the_consumer_with_async_with_cancels_the_workers() -> None:
    script = Script(latency=lambda item: 10.0)

    async def consume() -> None:
        async with sluice.Gate(concurrency=4).stream(script, range(100)) as results:
            async for _ in results:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(script.cancelled) == [0, 1, 2, 3]
    assert not other_tasks()


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"items": object()}, TypeError, "gate.stream(items=...) must be an iterable"),
        ({"window": -3}, sluice.ConfigError, "gate.stream(window=...) must be an integer >= 1"),
        ({"fn": None}, TypeError, "gate.stream(fn=...) must be callable, got None"),
    ],
)
def test_bad_input_fails_when_the_stream_is_made(
    kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    call: dict[str, Any] = {"fn": Script(), "items": [1]} | kwargs
    with pytest.raises(error) as info:
        sluice.Gate().stream(call.pop("fn"), call.pop("items"), **call)
    assert fragment in str(info.value)


async def test_closing_from_another_task_ends_the_consumer() -> None:
    stream = sluice.Gate(concurrency=2).stream(Script(latency=lambda item: 10.0), range(10))
    seen: list[int] = []

    async def consume() -> None:
        async for index, _ in stream:
            seen.append(index)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(1.0)
    await stream.aclose()
    await consumer
    assert seen == []
    assert now() == 1.0
    assert not other_tasks()


async def test_a_second_concurrent_consumer_is_refused() -> None:
    stream = sluice.Gate(concurrency=2).stream(Script(latency=lambda item: 1.0), range(4))
    async with stream:
        first = asyncio.create_task(anext(stream))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="another task"):
            await anext(stream)
        assert (await first)[0] in (0, 1)


async def test_early_break_with_an_async_generator_input() -> None:
    closed = False

    async def items() -> AsyncGenerator[int, None]:
        nonlocal closed
        try:
            for item in itertools.count():
                await asyncio.sleep(0.1)
                yield item
        finally:
            closed = True

    source = items()
    async with sluice.Gate(concurrency=3).stream(Script(), source) as results:
        async for _ in results:
            break
    assert not other_tasks()
    await source.aclose()  # the input belongs to the caller; the stream leaves it open
    assert closed
