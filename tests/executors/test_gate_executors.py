"""Where calls run: the loop, the gate's thread pool, its process pool."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import sluice
from sluice._executors import ASYNC, PROCESS, THREAD, call_kind


def square(x: int) -> int:
    return x * x


@sluice.cpu
def cpu_square(x: int) -> int:
    return x * x


def crash() -> None:
    raise ValueError("raised in the worker")


class AsyncCallable:
    async def __call__(self) -> str:
        return "async object"


class SyncCallable:
    def __call__(self) -> str:
        return "sync object"


async def coro() -> str:
    return "coroutine"


def test_call_kinds() -> None:
    import functools

    assert call_kind(coro) == ASYNC
    assert call_kind(functools.partial(coro)) == ASYNC
    assert call_kind(AsyncCallable()) == ASYNC
    assert call_kind(square) == THREAD
    assert call_kind(SyncCallable()) == THREAD
    assert call_kind(time.sleep) == THREAD
    assert call_kind(cpu_square) == PROCESS
    assert call_kind(AsyncCallable().__call__) == ASYNC  # bound methods
    assert call_kind(SyncCallable().__call__) == THREAD
    assert call_kind(functools.partial(square, 2)) == THREAD


async def test_plain_function_runs_on_the_gates_threads_not_the_loop() -> None:
    loop_thread = threading.get_ident()

    def where() -> tuple[int, str]:
        return threading.get_ident(), threading.current_thread().name

    async with sluice.Gate("io", concurrency=2) as gate:
        ident, name = await gate.run(where)
    assert ident != loop_thread
    assert name.startswith("sluice-io")


async def test_sync_and_async_callables_objects() -> None:
    async with sluice.Gate() as gate:
        assert await gate.run(AsyncCallable()) == "async object"
        assert await gate.run(SyncCallable()) == "sync object"


async def test_errors_raised_in_threads_pass_through() -> None:
    async with sluice.Gate(retry=2) as gate:
        with pytest.raises(ValueError, match="raised in the worker"):
            await gate.run(crash)


async def test_context_reaches_the_thread() -> None:
    seen: list[float | None] = []

    def read_deadline() -> None:
        seen.append(sluice.current_deadline())

    async with sluice.Gate(timeout=sluice.Timeout(total=8.0)) as gate:
        await gate.run(read_deadline)
    assert seen == [8.0]


@pytest.mark.realtime
async def test_blocking_calls_overlap_instead_of_adding_up() -> None:
    async with sluice.Gate(concurrency=4) as gate:
        start = time.perf_counter()
        await asyncio.gather(*(gate.run(time.sleep, 0.3) for _ in range(4)))
        elapsed = time.perf_counter() - start
    assert elapsed < 0.9  # four 0.3 s sleeps in sequence would take 1.2 s


@pytest.mark.realtime
async def test_timed_out_blocking_call_keeps_its_permit_until_the_thread_is_free() -> None:
    release = threading.Event()
    async with sluice.Gate(concurrency=1, timeout=0.05) as gate:
        with pytest.raises(sluice.AttemptTimeout):
            await gate.run(release.wait, 10.0)
        stats = gate.statistics()
        # The caller left, the thread did not: the bound on running work still holds.
        assert stats.in_flight == 1
        assert stats.concurrency_limit == 1
        release.set()
        for _ in range(200):
            if gate.statistics().in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert gate.statistics().in_flight == 0


@pytest.mark.realtime
async def test_cancelled_caller_returns_at_once() -> None:
    release = threading.Event()
    async with sluice.Gate(concurrency=2) as gate:
        task = asyncio.create_task(gate.run(release.wait, 10.0))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.perf_counter() - started < 1.0
        assert gate.statistics().cancelled == 1
        release.set()


async def test_queued_thread_job_of_a_cancelled_caller_never_runs() -> None:
    ran: list[int] = []
    release = threading.Event()

    def record(tag: int) -> None:
        release.wait(10.0)
        ran.append(tag)

    gate = sluice.Gate(threads=1)
    first = asyncio.create_task(gate.run(record, 1))
    second = asyncio.create_task(gate.run(record, 2))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    release.set()
    await first
    await gate.aclose()
    assert ran == [1]


async def test_close_refuses_new_calls_and_joins_the_threads() -> None:
    gate = sluice.Gate("closing")
    await gate.run(square, 3)
    await gate.aclose()
    assert gate.closed
    with pytest.raises(sluice.GateClosedError, match="gate 'closing' is closed"):
        await gate.run(square, 3)
    assert gate.statistics().rejected == {"closed": 1}
    assert not [t for t in threading.enumerate() if t.name.startswith("sluice-closing")]


def test_sync_close_joins_the_threads() -> None:
    gate = sluice.Gate("sync-close")
    assert gate.run_sync(square, 4) == 16
    gate.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("sync-close")]


@pytest.mark.realtime
async def test_cpu_function_runs_in_another_process() -> None:
    import os

    async with sluice.Gate(processes=2) as gate:
        results = await asyncio.gather(*(gate.run(cpu_square, n) for n in range(6)))
        pid = await gate.run(sluice.cpu(os.getpid))
    assert results == [n * n for n in range(6)]
    assert pid != os.getpid()


def test_cpu_refuses_what_cannot_be_sent_to_a_process() -> None:
    with pytest.raises(TypeError, match="Define the function at module level"):
        sluice.cpu(lambda: 1)
    with pytest.raises(TypeError, match="needs a plain"):
        sluice.cpu(coro)  # type: ignore[arg-type]
    assert sluice.cpu(cpu_square) is cpu_square
    assert cpu_square(3) == 9  # called directly it runs in place
    assert repr(cpu_square) == "sluice.cpu(cpu_square)"


def test_cpu_wrapper_pickles_by_reference() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(cpu_square)) is cpu_square
    wrapped = sluice.cpu(square)
    assert pickle.loads(pickle.dumps(wrapped))(5) == 25


@pytest.mark.realtime
async def test_unpicklable_arguments_of_a_cpu_call_are_explained() -> None:
    async with sluice.Gate(processes=1) as gate:
        with pytest.raises(Exception) as info:  # noqa: PT011 - the pickling error type varies
            await gate.run(cpu_square, threading.Lock())
    assert any("must be picklable" in note for note in info.value.__notes__)
