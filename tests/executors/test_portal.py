"""The sync facade: async code driven from synchronous callers."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import sluice
from sluice._executors.portal import Portal


async def double(x: int) -> int:
    await asyncio.sleep(0.001)
    return 2 * x


def test_run_sync_from_plain_code() -> None:
    assert sluice.run_sync(double, 21) == 42


def test_run_sync_from_many_threads_at_once() -> None:
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda n: sluice.run_sync(double, n), range(32))) == [
            2 * n for n in range(32)
        ]


@pytest.mark.realtime
async def test_run_sync_from_inside_a_running_loop() -> None:
    # As in a notebook: the caller's loop is busy, the work runs on the portal's loop.
    assert sluice.run_sync(double, 5) == 10


def test_gate_run_sync_runs_plain_and_async_functions() -> None:
    gate = sluice.Gate("sync", concurrency=2, retry=2)
    try:
        assert gate.run_sync(double, 4) == 8
        assert gate.run_sync(len, "abc") == 3
        assert gate.statistics().succeeded == 2
    finally:
        gate.close()


def test_errors_propagate_to_the_sync_caller() -> None:
    async def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        sluice.run_sync(fail)


def test_non_async_callable_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"For a plain function use gate.run_sync\(\)"):
        sluice.run_sync(len, "abc")  # type: ignore[arg-type]


def test_calling_the_portal_from_its_own_loop_is_refused() -> None:
    async def nested() -> int:
        return sluice.run_sync(double, 1)

    with pytest.raises(RuntimeError, match="would wait for itself forever"):
        sluice.run_sync(nested)


def test_a_portal_stops_and_cancels_what_still_runs() -> None:
    portal = Portal("sluice-test-portal")
    started = threading.Event()
    cancelled = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(portal.call, forever)
        assert started.wait(5.0)
        portal.stop()
        assert cancelled.wait(5.0)
        with pytest.raises(BaseException):  # noqa: PT011, B017 - cancelled or loop closed
            pending.result(timeout=5.0)
    assert not portal.running
    portal.stop()  # stopping twice is harmless
