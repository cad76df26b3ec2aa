"""The client a run builds from its options."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import sluice.batch
from sluice.batch._options import BatchOptions
from sluice.llm import Client

URL = "http://127.0.0.1:9/v1"


@contextlib.asynccontextmanager
async def _client(tmp_path: Path, **options: Any) -> AsyncIterator[Client]:
    """The client a run with these options would send through, closed after use."""
    made = BatchOptions.make(tmp_path / "in.jsonl", tmp_path / "out.jsonl", base_url=URL, **options)
    client = made.make_client(lambda: False, set())
    try:
        yield client
    finally:
        await client.aclose()


def test_run_takes_exactly_the_options_it_forwards() -> None:
    """run() hands its arguments to BatchOptions.make whole: the two signatures must agree
    (names, kinds, defaults), or an option would be dropped or refused."""
    run = inspect.signature(sluice.batch.run).parameters
    make = inspect.signature(BatchOptions.make).parameters
    assert [(p.name, p.kind, p.default) for p in run.values()] == [
        (p.name, p.kind, p.default) for p in make.values()
    ]


@pytest.mark.parametrize(
    ("limits", "start"),
    [
        ({"rpm": 600}, 128),  # paced by the rate from the first request
        ({"tpm": 90_000}, 128),
        ({"rpm": 600, "window": 40}, 40),
        ({}, 16),  # no rate before the first headers: a small blind start
        ({"window": 8}, 8),
    ],
)
async def test_the_adaptive_limit_starts_at_the_window_when_a_rate_is_pinned(
    tmp_path: Path, limits: dict[str, int], start: int
) -> None:
    async with _client(tmp_path, **limits) as client:
        adaptive = client.gate.statistics().adaptive
        assert adaptive is not None
        assert adaptive.limit == start
        assert client.gate.statistics().concurrency_limit == start


async def test_a_fixed_concurrency_is_kept(tmp_path: Path) -> None:
    async with _client(tmp_path, rpm=600, concurrency=5) as client:
        statistics = client.gate.statistics()
        assert statistics.adaptive is None
        assert statistics.concurrency_limit == 5


async def test_a_pinned_rate_bursts_a_second_of_requests(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def call() -> None:
        starts.append(loop.time())

    async with _client(tmp_path, rpm=6000, concurrency=500) as client:
        origin = loop.time()
        await asyncio.gather(*(client.gate.run(call) for _ in range(102)))
    offsets = sorted(start - origin for start in starts)
    # 6000 a minute: the 100 of its first second at once, then one every 10 ms.
    assert offsets[:100] == [0.0] * 100
    assert offsets[100:] == pytest.approx([0.01, 0.02])
