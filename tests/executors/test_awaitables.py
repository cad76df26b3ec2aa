"""Callables not declared ``async def`` that return awaitables: awaited on the loop, never
run as blocking work, and holding their permit for as long as the awaitable runs."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import sluice
from sluice._executors import AWAIT_RESULT, THREAD, call_kind


async def double(x: int) -> tuple[int, int]:
    """The value, and the thread the coroutine ran on."""
    await asyncio.sleep(0.1)
    return 2 * x, threading.get_ident()


def decorated(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A decorator in the style of SDKs: a plain wrapper that returns the coroutine."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Awaitable[Any]:
        wrapper.called_on = threading.get_ident()  # type: ignore[attr-defined]
        return fn(*args, **kwargs)

    return wrapper


class Client:
    @decorated
    async def create(self, x: int) -> tuple[int, int]:
        return await double(x)


def test_wrappers_of_async_functions_are_seen_without_calling_them() -> None:
    assert call_kind(Client().create) is AWAIT_RESULT
    assert call_kind(functools.partial(Client().create, 1)) is AWAIT_RESULT
    assert call_kind(decorated(double)) is AWAIT_RESULT


async def test_a_decorated_sdk_method_is_called_and_awaited_on_the_loop() -> None:
    loop_thread = threading.get_ident()
    client = Client()
    async with sluice.Gate(concurrency=2) as gate:
        value, ran_on = await gate.run(client.create, 4)
    assert value == 8
    assert ran_on == loop_thread
    assert Client.create.called_on == loop_thread  # type: ignore[attr-defined]


async def test_a_lambda_is_awaited_and_then_remembered() -> None:
    loop_thread = threading.get_ident()
    step = lambda x: double(x)  # noqa: E731 - the case under test
    assert call_kind(step) is THREAD  # nothing tells before the first call
    async with sluice.Gate() as gate:
        value, ran_on = await gate.run(step, 5)
        assert (value, ran_on) == (10, loop_thread)
        assert call_kind(step) is AWAIT_RESULT
        value, _ = await gate.run(step, 6)
    assert value == 12


async def test_map_with_a_lambda_keeps_the_concurrency_limit() -> None:
    running = 0
    most = 0

    async def fetch(item: int, model: str) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(1.0)
        running -= 1
        return f"{model}:{item}"

    async with sluice.Gate(concurrency=2) as gate:
        results = await gate.map(lambda i: fetch(i, "m"), range(6))
        assert gate.statistics().in_flight == 0
    assert results == [f"m:{i}" for i in range(6)]
    assert most == 2


async def test_broadcast_with_a_lambda_succeeds_for_every_target() -> None:
    class Peer:
        def __init__(self, name: str) -> None:
            self.name = name

        async def send(self, message: str) -> str:
            await asyncio.sleep(0.01)
            return f"{self.name} got {message}"

    peers = [Peer("a"), Peer("b"), Peer("c")]
    async with sluice.Gate(concurrency=2) as gate:
        result = await gate.broadcast(lambda p: p.send("hi"), peers)
    assert result.complete
    assert not result.failed
    assert sorted(result.succeeded.values()) == ["a got hi", "b got hi", "c got hi"]


async def test_an_attempt_timeout_cancels_the_handed_back_coroutine_and_frees_the_permit() -> None:
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    slow = lambda: hang()  # noqa: E731
    async with sluice.Gate(concurrency=1, timeout=1.0) as gate:
        for _ in range(2):  # through the thread the first time, on the loop the second
            with pytest.raises(sluice.AttemptTimeout):
                await gate.run(slow)
            assert cancelled.is_set()
            cancelled.clear()
            assert gate.statistics().in_flight == 0


@pytest.mark.realtime
async def test_a_caller_gone_before_the_handoff_closes_the_coroutine_and_frees_the_permit() -> None:
    entered = threading.Event()
    proceed = threading.Event()
    started: list[bool] = []

    async def never_awaited() -> None:
        started.append(True)

    def slow_wrapper() -> Awaitable[None]:
        entered.set()
        proceed.wait(5.0)
        return never_awaited()

    async with sluice.Gate(concurrency=1) as gate:
        task = asyncio.create_task(gate.run(slow_wrapper))
        await asyncio.to_thread(entered.wait, 5.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gate.statistics().in_flight == 1  # the thread still holds the permit
        proceed.set()
        for _ in range(100):
            if gate.statistics().in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert gate.statistics().in_flight == 0
    assert started == []  # closed, never run (and no "never awaited" warning)


async def test_a_wrapper_that_returns_a_plain_value_goes_to_threads_afterwards(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def original() -> int:
        return 1

    @functools.wraps(original)
    def blocking_facade() -> int:
        return 7

    assert call_kind(blocking_facade) is AWAIT_RESULT
    async with sluice.Gate() as gate:
        with caplog.at_level(logging.WARNING, logger="sluice"):
            assert await gate.run(blocking_facade) == 7
        assert call_kind(blocking_facade) is THREAD
        assert await gate.run(blocking_facade) == 7
    assert "returned a plain value" in caplog.text
