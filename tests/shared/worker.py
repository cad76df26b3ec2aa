"""A worker process for the multi-process tests: one gate of a shared name, one job.

    python -m tests.shared.worker JOB REDIS_URL GATE [ARGUMENT]

Jobs:

- ``overlap N``: run N calls under ``concurrency=2``; each counts itself in Redis while it
  runs (``running``) and raises the high-water mark (``peak``).
- ``fail``: fail until the shared breaker opens; print ``open``.
- ``hold``: take both leases of ``concurrency=2`` (leases of 1 s) and hang; print ``holding``.
- ``post N BASE_URL``: send N chat completions to the simulator under ``Rate(rpm=600)``; print
  the statuses seen, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp
import redis.asyncio

import sluice
from sluice.stores._redis_state import RedisState

_PEAK = """
local now = redis.call('INCR', KEYS[1])
if now > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], now) end
return now
"""


async def overlap(url: str, name: str, calls: int) -> None:
    client = redis.asyncio.Redis.from_url(url)
    peak = client.register_script(_PEAK)

    async def work() -> None:
        await peak(keys=[f"{name}:running", f"{name}:peak"])
        await asyncio.sleep(0.02)
        await client.decr(f"{name}:running")

    async with _gate(url, name, concurrency=2) as gate:
        await asyncio.gather(*(gate.run(work) for _ in range(calls)))
    await client.aclose()


async def fail(url: str, name: str) -> None:
    breaker = sluice.Breaker(window=4, min_calls=4, open_for=60.0)

    async def broken() -> None:
        raise ConnectionError("upstream down")

    async with _gate(url, name, breaker=breaker) as gate:
        while gate.statistics().breaker_state != "open":
            try:
                await gate.run(broken)
            except (ConnectionError, sluice.CircuitOpenError):
                await asyncio.sleep(0.01)
        print("open", flush=True)


async def hold(url: str, name: str) -> None:
    async with _gate(url, name, concurrency=2, lease=1.0) as gate:
        started = 0

        async def forever() -> None:
            nonlocal started
            started += 1
            if started == 2:
                print("holding", flush=True)
            await asyncio.sleep(3600)

        await asyncio.gather(gate.run(forever), gate.run(forever))


async def post(url: str, name: str, calls: int, base_url: str) -> None:
    statuses: dict[int, int] = {}
    body = {"model": "sim", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    async with (
        aiohttp.ClientSession() as session,
        _gate(url, name, rate=sluice.Rate(rpm=600)) as gate,
    ):

        async def one() -> None:
            async with session.post(f"{base_url}/chat/completions", json=body) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(gate.run(one) for _ in range(calls)))
    print(json.dumps(statuses), flush=True)


class _gate:
    """A gate on a store of its own, both closed at the end."""

    def __init__(self, url: str, name: str, *, lease: float = 15.0, **policies: Any) -> None:
        self.store = RedisState(url, lease=lease, timeout=min(0.5, lease / 4))
        self.gate = sluice.Gate(name, shared=self.store, **policies)

    async def __aenter__(self) -> sluice.Gate:
        return self.gate

    async def __aexit__(self, *exc: object) -> None:
        await self.gate.aclose()
        await self.store.aclose()


def main(argv: list[str]) -> None:
    job, url, name, *rest = argv
    if job == "overlap":
        asyncio.run(overlap(url, name, int(rest[0])))
    elif job == "fail":
        asyncio.run(fail(url, name))
    elif job == "hold":
        asyncio.run(hold(url, name))
    elif job == "post":
        asyncio.run(post(url, name, int(rest[0]), rest[1]))
    else:
        raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
