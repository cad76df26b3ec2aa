"""Real processes sharing one gate through a real Redis.

Each worker (tests/shared/worker.py) is a separate Python process with its own event loop,
connections and gate; they meet only in Redis. Every wait is bounded, and every worker is
reaped (killed if it overstays) before the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis

import sluice
from sluice.sim import SimConfig, SimServer
from sluice.stores._redis_state import RedisState

pytestmark = pytest.mark.realtime

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()


def _name() -> str:
    return f"processes-{next(_names)}"


@contextlib.asynccontextmanager
async def worker(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A worker process for the block; killed and reaped on the way out if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.shared.worker",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def finished(process: asyncio.subprocess.Process) -> str:
    """What the worker printed, once it exited cleanly (bounded)."""
    async with asyncio.timeout(60.0):
        out, _ = await process.communicate()
    assert process.returncode == 0
    return out.decode()


async def test_a_concurrency_limit_holds_at_the_server_across_three_processes(
    redis_url: str,
) -> None:
    name = _name()
    async with (
        worker("overlap", redis_url, name, "12") as first,
        worker("overlap", redis_url, name, "12") as second,
        worker("overlap", redis_url, name, "12") as third,
    ):
        for process in (first, second, third):
            await finished(process)
    client = redis.Redis.from_url(redis_url)
    try:
        assert int(client.get(f"{name}:peak") or 0) == 2
        assert int(client.get(f"{name}:running") or 0) == 0
    finally:
        client.close()


async def test_a_breaker_opened_in_one_process_rejects_in_another(redis_url: str) -> None:
    name = _name()
    async with worker("fail", redis_url, name) as failing:
        assert (await finished(failing)).strip() == "open"
    store = RedisState(redis_url)
    breaker = sluice.Breaker(window=4, min_calls=4, open_for=60.0)
    gate = sluice.Gate(name, breaker=breaker, shared=store)
    try:
        with pytest.raises(sluice.CircuitOpenError, match="shared"):
            await gate.run(asyncio.sleep, 0)
    finally:
        await gate.aclose()
        await store.aclose()


async def test_permits_of_a_killed_process_come_back_within_a_lease(redis_url: str) -> None:
    name = _name()
    store = RedisState(redis_url, lease=1.0, timeout=0.2)
    # Waiting up to 10 s for a permit: far longer than the 1 s lease, so a permit that never
    # came back fails the call with max_wait instead of hanging.
    limit = sluice.Concurrency(2, max_wait=10.0)
    gate = sluice.Gate(name, concurrency=limit, shared=store)
    try:
        async with worker("hold", redis_url, name) as holder:
            assert holder.stdout is not None
            async with asyncio.timeout(30.0):
                assert (await holder.stdout.readline()).strip() == b"holding"
            # Both permits are held: the server refuses a call one, and it waits its turn.
            refused = asyncio.create_task(gate.run(asyncio.sleep, 0))
            async with asyncio.timeout(30.0):
                while gate.statistics().waiting == 0 and not refused.done():
                    await asyncio.sleep(0.01)
            assert not refused.done()
            refused.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refused
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
        # Nobody renews the dead process's leases: they expire, and the permits are free.
        assert await gate.run(asyncio.sleep, 0, "after") == "after"
        assert await asyncio.gather(gate.run(asyncio.sleep, 0.01), gate.run(asyncio.sleep, 0.01))
    finally:
        await gate.aclose()
        await store.aclose()


async def test_four_processes_share_one_budget_with_no_server_429(redis_url: str) -> None:
    name = _name()
    config = SimConfig(rpm=600, burst=60.0, ttft=0.0, itl=0.0, output_tokens=1)
    async with SimServer(config) as sim:
        # Spend the simulator's full first minute but for 5 requests, so what follows is held
        # to its refill rate, 10 a second: 40 requests at once would be refused by the dozen.
        body = {"model": "sim-model", "messages": [{"role": "user", "content": "x"}]}
        async with aiohttp.ClientSession() as session:

            async def spend() -> None:
                url = f"{sim.base_url}/chat/completions"
                async with session.post(url, json=body) as response:
                    await response.read()

            for _ in range(595 // 35):
                await asyncio.gather(*(spend() for _ in range(35)))
        assert sim.metrics().status_count(429) == 0
        async with contextlib.AsyncExitStack() as stack:
            workers = [
                await stack.enter_async_context(worker("post", redis_url, name, "10", sim.base_url))
                for _ in range(4)
            ]
            seen = [json.loads(await finished(process)) for process in workers]
        assert sim.metrics().status_count(429) == 0
        assert sum(counts.get("200", 0) for counts in seen) == 40
