"""gate.broadcast and gate.race: isolation, quorum, deadline, the rest, all-failed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import sluice
from tests.fanout.helpers import Boom, Script, now, other_tasks

LATENCY = {"a": 1.0, "b": 2.0, "c": 3.0, "dead": 1_000.0}


def peers(**fail: BaseException) -> Script:
    return Script(latency=lambda peer: LATENCY[peer], fail=fail)


async def test_one_failure_is_isolated_from_the_others() -> None:
    script = peers(b=Boom("b is down"))
    result = await sluice.Gate().broadcast(script, ["a", "b", "c"])
    assert now() == 3.0
    assert dict(result.succeeded) == {"a": "a" * 10, "c": "c" * 10}
    assert list(result.failed) == ["b"]
    assert isinstance(result.failed["b"], Boom)
    assert result.complete
    assert (result.cancelled, result.pending, result.rest) == ((), (), None)


async def test_results_are_read_only_and_in_target_order() -> None:
    result = await sluice.Gate().broadcast(peers(), ["c", "a", "b"])
    assert list(result.succeeded) == ["c", "a", "b"]
    with pytest.raises(TypeError):
        result.succeeded["z"] = 1  # type: ignore[index]


async def test_quorum_returns_when_enough_succeed_and_cancels_the_rest() -> None:
    script = peers()
    result = await sluice.Gate().broadcast(script, ["a", "b", "c", "dead"], quorum=2)
    assert now() == 2.0
    assert list(result.succeeded) == ["a", "b"]
    assert result.cancelled == ("c", "dead")
    assert not result.complete
    assert sorted(script.cancelled) == ["c", "dead"]
    assert not other_tasks()


async def test_quorum_that_can_no_longer_be_met_returns_at_once() -> None:
    script = peers(a=Boom("a"), b=Boom("b"))
    result = await sluice.Gate().broadcast(script, ["a", "b", "c", "dead"], quorum=3)
    assert now() == 2.0  # two of four failed: three successes are out of reach
    assert sorted(result.failed) == ["a", "b"]
    assert result.cancelled == ("c", "dead")
    assert not other_tasks()


async def test_deadline_marks_the_unfinished_as_timed_out() -> None:
    remaining: dict[str, float | None] = {}

    async def call(peer: str) -> str:
        remaining[peer] = sluice.time_remaining()
        await asyncio.sleep(LATENCY[peer])
        return peer

    result = await sluice.Gate().broadcast(call, ["a", "c", "dead"], deadline=2.5)
    assert now() == 2.5
    assert list(result.succeeded) == ["a"]
    assert list(result.failed) == ["c", "dead"]
    assert list(result.timed_out) == ["c", "dead"]
    for error in result.failed.values():
        assert isinstance(error, sluice.DeadlineExceeded)
        assert isinstance(error, TimeoutError)
    assert remaining == {"a": 2.5, "c": 2.5, "dead": 2.5}  # the calls see the deadline
    assert result.complete  # every target has an answer, a timeout is one
    assert not other_tasks()


async def test_deadline_with_a_gate_that_has_policies() -> None:
    gate = sluice.Gate(concurrency=2, retry=3, timeout=sluice.Timeout(attempt=10.0))
    result = await gate.broadcast(peers(), ["a", "dead"], deadline=4.0)
    assert now() == 4.0
    assert isinstance(result.failed["dead"], sluice.DeadlineExceeded)
    assert not other_tasks()


async def test_cancel_rest_false_leaves_the_rest_running_with_a_handle() -> None:
    script = peers(c=Boom("c"))
    gate = sluice.Gate()
    result = await gate.broadcast(script, ["a", "b", "c"], quorum=1, cancel_rest=False)
    assert now() == 1.0
    assert list(result.succeeded) == ["a"]
    assert result.pending == ("b", "c")
    assert result.rest is not None
    final = await result.rest
    assert now() == 3.0
    assert list(final.succeeded) == ["a", "b"]
    assert list(final.failed) == ["c"]
    assert final.complete
    assert not script.cancelled
    assert not other_tasks()


async def test_the_deadline_still_bounds_the_rest() -> None:
    result = await sluice.Gate().broadcast(
        peers(), ["a", "dead"], quorum=1, deadline=5.0, cancel_rest=False
    )
    assert result.rest is not None
    final = await result.rest
    assert now() == 5.0
    assert list(final.timed_out) == ["dead"]
    await asyncio.sleep(0)
    assert not other_tasks()


async def test_cancelling_the_rest_cancels_the_pending_calls() -> None:
    script = peers()
    result = await sluice.Gate().broadcast(script, ["a", "dead"], quorum=1, cancel_rest=False)
    assert result.rest is not None
    result.rest.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert script.cancelled == ["dead"]
    assert not other_tasks()


async def test_gate_policies_apply_per_target() -> None:
    script = Script(latency=lambda peer: 1.0)
    gate = sluice.Gate(concurrency=2)
    result = await gate.broadcast(script, range(5))
    assert script.peak == 2
    assert now() == 3.0
    assert sorted(result.succeeded) == [0, 1, 2, 3, 4]


async def test_cancelling_the_caller_cancels_every_target() -> None:
    script = peers()
    task = asyncio.create_task(sluice.Gate().broadcast(script, ["a", "b", "dead"]))
    await asyncio.sleep(1.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(script.cancelled) == ["b", "dead"]
    assert not other_tasks()


async def test_empty_targets_give_an_empty_result() -> None:
    result = await sluice.Gate().broadcast(peers(), [])
    assert (dict(result.succeeded), dict(result.failed), result.complete) == ({}, {}, True)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"targets": [[1], [2]]}, TypeError, "must hold hashable targets"),
        (
            {"targets": ["a", "a"]},
            sluice.ConfigError,
            "must not repeat a target; 'a' appears twice",
        ),
        ({"targets": 3}, TypeError, "gate.broadcast(targets=...) must be an iterable"),
        (
            {"quorum": 0},
            sluice.ConfigError,
            "an integer from 1 to the number of targets (2), got 0",
        ),
        ({"quorum": 3}, sluice.ConfigError, "gate.broadcast(quorum=...) must be None"),
        ({"deadline": -1}, sluice.ConfigError, "gate.broadcast(deadline=...) must be a finite"),
        ({"fn": 1}, TypeError, "gate.broadcast(fn=...) must be callable"),
    ],
)
async def test_bad_broadcast_input_names_the_parameter(
    kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    call: dict[str, Any] = {"fn": peers(), "targets": ["a", "b"]} | kwargs
    with pytest.raises(error) as info:
        await sluice.Gate().broadcast(call.pop("fn"), call.pop("targets"), **call)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- race
async def test_race_returns_the_first_success_and_cancels_the_rest() -> None:
    script = peers(a=Boom("a"))
    assert await sluice.Gate().race(script, ["dead", "a", "b", "c"]) == "b" * 10
    assert now() == 2.0
    assert sorted(script.cancelled) == ["c", "dead"]
    assert not other_tasks()


async def test_race_takes_unhashable_targets() -> None:
    async def first(target: list[int]) -> int:
        await asyncio.sleep(target[0])
        return target[0]

    assert await sluice.Gate().race(first, [[3], [1], [2]]) == 1


async def test_race_raises_a_group_only_when_all_fail() -> None:
    script = peers(a=Boom("a"), b=ValueError("b"))
    with pytest.raises(sluice.AllFailedError) as info:
        await sluice.Gate("replicas").race(script, ["b", "a"])
    error = info.value
    assert now() == 2.0
    assert isinstance(error, ExceptionGroup)
    assert isinstance(error, sluice.SluiceError)
    assert [type(e) for e in error.exceptions] == [ValueError, Boom]
    assert "gate 'replicas': all 2 target(s) failed" in str(error)
    rest = error.split(ValueError)[1]
    assert rest is not None
    assert [type(e) for e in rest.exceptions] == [Boom]


async def test_race_deadline_fails_every_unfinished_target() -> None:
    with pytest.raises(sluice.AllFailedError) as info:
        await sluice.Gate().race(peers(), ["c", "dead"], deadline=2.0)
    assert now() == 2.0
    assert all(isinstance(e, sluice.DeadlineExceeded) for e in info.value.exceptions)
    assert not other_tasks()


async def test_race_with_no_target_is_an_error() -> None:
    with pytest.raises(
        sluice.ConfigError, match=r"gate\.race\(targets=\.\.\.\) must hold at least"
    ):
        await sluice.Gate().race(peers(), [])


# ---------------------------------------------------------------- sync twins
def test_broadcast_sync_and_race_sync() -> None:
    async def ping(peer: str) -> str:
        await asyncio.sleep({"fast": 0.001, "slow": 5.0}.get(peer, 0.002))
        if peer == "down":
            raise Boom(peer)
        return peer.upper()

    gate = sluice.Gate("peers", concurrency=4)
    try:
        result = gate.broadcast_sync(ping, ["fast", "down", "slow"], deadline=0.5)
        assert dict(result.succeeded) == {"fast": "FAST"}
        assert isinstance(result.failed["down"], Boom)
        assert isinstance(result.failed["slow"], sluice.DeadlineExceeded)
        assert gate.race_sync(ping, ["slow", "fast"]) == "FAST"
        with pytest.raises(sluice.AllFailedError):
            gate.race_sync(ping, ["down"])
    finally:
        gate.close()
