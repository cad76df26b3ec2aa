"""The client a run builds from its options."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

import sluice.batch
from sluice.batch._options import BatchOptions

URL = "http://127.0.0.1:9/v1"


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
    options = BatchOptions.make(
        tmp_path / "in.jsonl", tmp_path / "out.jsonl", base_url=URL, **limits
    )
    client = options.make_client(lambda: False, set())
    try:
        adaptive = client.gate.statistics().adaptive
        assert adaptive is not None
        assert adaptive.limit == start
        assert client.gate.statistics().concurrency_limit == start
    finally:
        await client.aclose()


async def test_a_fixed_concurrency_is_kept(tmp_path: Path) -> None:
    options = BatchOptions.make(
        tmp_path / "in.jsonl", tmp_path / "out.jsonl", base_url=URL, rpm=600, concurrency=5
    )
    client = options.make_client(lambda: False, set())
    try:
        statistics = client.gate.statistics()
        assert statistics.adaptive is None
        assert statistics.concurrency_limit == 5
    finally:
        await client.aclose()


async def test_a_pinned_rate_bursts_a_second_of_requests(tmp_path: Path) -> None:
    options = BatchOptions.make(
        tmp_path / "in.jsonl", tmp_path / "out.jsonl", base_url=URL, rpm=6000, concurrency=500
    )
    client = options.make_client(lambda: False, set())
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def call() -> None:
        starts.append(loop.time())

    try:
        origin = loop.time()
        await asyncio.gather(*(client.gate.run(call) for _ in range(102)))
    finally:
        await client.aclose()
    offsets = sorted(start - origin for start in starts)
    # 6000 a minute: the 100 of its first second at once, then one every 10 ms.
    assert offsets[:100] == [0.0] * 100
    assert offsets[100:] == pytest.approx([0.01, 0.02])
