"""The state seam: a store whose admission is a round trip, and what happens when it is down.

The store here stands in for a shared one: its one stage makes every admission check of an
attempt in a single awaited exchange, and raises `StoreUnavailable` when the store cannot be
reached. The gate state's ``fail`` mode decides what the kernel does then.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

import sluice
from sluice._core.call import Call
from sluice._core.stage import Instruction
from sluice.stores._local import LocalStore
from tests.core.stagekit import (
    Recorder,
    ScriptedState,
    StoreUnavailable,
    kernel_with,
    ok,
    run,
)


class RemoteAdmission:
    """One stage for every check: one round trip of ``latency`` per attempt, which answers
    "go", "wait this long", or fails because the store is down."""

    admits = True
    holds = True
    after_success = True

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.round_trips = 0
        self.down = False
        self.wait = 0.0
        self.queued: list[str] = []  # what would be sent with the next exchange

    def before(self, call: Call, now: float) -> Instruction:
        return self._exchange()

    async def _exchange(self) -> Instruction:
        self.round_trips += 1
        await asyncio.sleep(self.latency)
        if self.down:
            raise StoreUnavailable("connection refused")
        return self.wait or None

    def free(self, call: Call) -> None:
        self.queued.append("free")  # never waits: sent later

    def after(self, call: Call, now: float) -> None:
        self.queued.append("ok" if call.error is None else type(call.error).__name__)


async def test_one_round_trip_admits_an_attempt() -> None:
    remote = RemoteAdmission(latency=0.002)
    kernel = kernel_with(ScriptedState((remote,)))
    started: list[float] = []

    async def upstream() -> None:
        started.append(asyncio.get_running_loop().time())

    for _ in range(3):
        await run(kernel, upstream)
    assert remote.round_trips == 3
    assert started == pytest.approx([0.002, 0.004, 0.006])
    assert remote.queued == ["free", "ok"] * 3


async def test_a_wait_answered_by_the_store_is_waited_for() -> None:
    remote = RemoteAdmission(latency=0.001)
    remote.wait = 2.0  # the shared rate limit says: your slot is in 2 s
    kernel = kernel_with(ScriptedState((remote,)))
    await run(kernel, ok)
    assert asyncio.get_running_loop().time() == pytest.approx(2.001)


async def test_fail_open_admits_on_local_state() -> None:
    log: list[tuple[str, ...]] = []
    remote = RemoteAdmission(latency=0.001)
    remote.down = True
    local = Recorder("local", log)
    kernel = kernel_with(ScriptedState((remote,), fallback=(local,), fail="open"))
    assert await run(kernel, ok) == "ok"
    assert log == [("local", "before", "0.001"), ("local", "after", "ok", "issued")]
    # The remote stage took the attempt in, and was told it never went out through it.
    assert remote.queued == ["free", "StoreUnavailable"]


async def test_running_on_local_state_is_reported_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    remote = RemoteAdmission(latency=0.001)
    remote.down = True
    kernel = kernel_with(ScriptedState((remote,), fallback=(), fail="open"))
    for _ in range(3):
        assert await run(kernel, ok) == "ok"
    await asyncio.sleep(60.0)
    assert await run(kernel, ok) == "ok"
    reports = [r.getMessage() for r in caplog.records if "shared state" in r.getMessage()]
    assert len(reports) == 2
    assert "admitting calls on this process's own limits" in reports[0]


async def test_fail_closed_refuses_without_calling_the_upstream() -> None:
    remote = RemoteAdmission(latency=0.001)
    remote.down = True
    kernel = kernel_with(ScriptedState((remote,), fail="closed"))
    calls = 0

    async def upstream() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(sluice.RejectedError, match="fails closed") as caught:
        await run(kernel, upstream)
    assert isinstance(caught.value.__cause__, StoreUnavailable)
    assert calls == 0
    assert kernel.statistics().rejected == {"rejected": 1}


async def test_a_dead_store_cannot_outlast_the_deadline() -> None:
    remote = RemoteAdmission(latency=3600.0)  # a store that never answers
    kernel = kernel_with(ScriptedState((remote,)), timeout=sluice.Timeout(total=5.0))
    with pytest.raises(sluice.DeadlineExceeded):
        await run(kernel, ok)
    assert asyncio.get_running_loop().time() == 5.0
    assert remote.queued == ["free", "CancelledError"]


def test_the_local_store_keeps_state_per_gate_and_cannot_be_down() -> None:
    one = sluice.Gate("a", concurrency=1, rate=sluice.Rate(rps=1))
    two = sluice.Gate("a", concurrency=1, rate=sluice.Rate(rps=1))
    assert one._kernel.state is not two._kernel.state
    assert one._kernel.state.fail == "open"
    assert repr(LocalStore()) == "LocalStore()"
