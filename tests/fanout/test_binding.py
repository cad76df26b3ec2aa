"""Fan-out with bound arguments (a lambda, a partial), and functions that cannot take an item:
the first works everywhere, the second is the caller's bug and is raised at once."""

from __future__ import annotations

import asyncio
import functools

import pytest

import sluice


async def fetch(item: int, model: str) -> str:
    await asyncio.sleep(0.1)
    return f"{model}:{item}"


def lookup(item: int, table: dict[int, str]) -> str:  # blocking: runs on threads
    return table[item]


async def test_map_stream_broadcast_and_race_take_lambdas_and_partials() -> None:
    bound = [lambda i: fetch(i, "m"), functools.partial(fetch, model="m")]
    async with sluice.Gate(concurrency=3) as gate:
        for fn in bound:
            assert await gate.map(fn, range(4)) == [f"m:{i}" for i in range(4)]
            async with gate.stream(fn, range(4), ordered=True) as results:
                assert [outcome.unwrap() async for _, outcome in results] == [
                    f"m:{i}" for i in range(4)
                ]
            result = await gate.broadcast(fn, [1, 2])
            assert dict(result.succeeded) == {1: "m:1", 2: "m:2"}
            assert not result.failed
            assert await gate.race(fn, [7]) == "m:7"


async def test_a_partial_of_a_blocking_function_runs_on_threads() -> None:
    table = {1: "one", 2: "two"}
    async with sluice.Gate(concurrency=2) as gate:
        assert await gate.map(functools.partial(lookup, table=table), [1, 2]) == ["one", "two"]


@pytest.mark.parametrize("method", ["map", "stream", "broadcast", "race"])
async def test_a_function_that_cannot_take_one_argument_fails_at_once(method: str) -> None:
    calls = 0

    async def two_args(item: int, model: str) -> str:
        nonlocal calls
        calls += 1
        return model

    async def start(gate: sluice.Gate) -> object:
        if method == "stream":
            return gate.stream(two_args, [1, 2])  # refused before it is iterated
        return await getattr(gate, method)(two_args, [1, 2])

    async with sluice.Gate(concurrency=2) as gate:
        with pytest.raises(TypeError, match=r"two_args\(item, model\) cannot be"):
            await start(gate)
        with pytest.raises(TypeError, match=r"lambda target: fn\(target, other\)"):
            await gate.broadcast(lambda: "no argument", [1, 2])
    assert calls == 0


async def test_functions_without_a_signature_are_still_called() -> None:
    async with sluice.Gate() as gate:
        assert await gate.map(abs, [-1, -2]) == [1, 2]
