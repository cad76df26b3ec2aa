"""`sluice.batch.run_ray` on a local Ray cluster (``ray.init(num_cpus=2)``) against the
simulator, the limits shared through Redis.

Opt-in (the cluster costs seconds and most of a gigabyte): run with ``SLUICE_RAY_TESTS=1``
or ``-m ray``; skipped where ray is not installed (``pip install 'aiosluice[ray]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sluice.batch
from sluice.sim import SimConfig, SimServer

from .files import chat_line, failed_entries, output_ids, write_chat_input, write_lines
from .sim_waits import quiet, wait_for_requests

pytestmark = [pytest.mark.ray, pytest.mark.realtime]


@pytest.fixture(scope="module")
def ray_cluster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One local cluster for the module, stopped by ``ray.shutdown()`` (never ``ray stop``,
    which stops every cluster on the machine)."""
    asked = "ray" in (request.config.getoption("markexpr") or "")
    if os.environ.get("SLUICE_RAY_TESTS") != "1" and not asked:
        pytest.skip("the Ray tests are opt-in: SLUICE_RAY_TESTS=1 or -m ray")
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


async def test_every_id_answered_once_across_the_workers(
    tmp_path: Path, ray_cluster: Any, redis_url: str
) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 60)
    with open(source, "a") as file:
        file.write("{broken\n")
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        result = await sluice.batch.run_ray(
            source, out, base_url=sim.base_url, workers=3, shared=redis_url, rpm=60000
        )
        assert sim.metrics().total_requests == 60
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 60
    assert set(ids) == {f"q{i}" for i in range(60)}
    assert result.done == 60
    assert result.malformed == 1
    assert result.lines == 61
    assert [entry["line"] for entry in failed_entries(result.failed_path)] == [61]
    parts = sorted(path.name for path in (tmp_path / "out.jsonl.shards").glob("part-???.jsonl"))
    assert parts == ["part-000.jsonl", "part-001.jsonl", "part-002.jsonl"]
    assert all(output_ids(tmp_path / "out.jsonl.shards" / name) for name in parts)


async def test_a_stopped_job_resumes_sending_only_the_rest(
    tmp_path: Path, ray_cluster: Any, redis_url: str
) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    stop = asyncio.Event()
    async with SimServer(SimConfig(ttft=0.05)) as sim:
        job = asyncio.create_task(
            sluice.batch.run_ray(
                source, out, base_url=sim.base_url, workers=2, shared=redis_url,
                concurrency=2, stop_event=stop,
            )
        )  # fmt: skip
        await wait_for_requests(sim, 10, within=30)
        stop.set()
        first = await job
        assert first.stopped == "interrupted"
        assert 10 <= first.done < 40
        assert len(output_ids(out)) == first.done
        second = await sluice.batch.run_ray(
            source, out, base_url=sim.base_url, workers=2, shared=redis_url, concurrency=2
        )
        assert sim.metrics().total_requests == 40
    assert second.sent == 40 - first.done
    assert second.skipped_already_done == first.done
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 40


async def test_workers_killed_midway_resume_from_their_journals(
    tmp_path: Path, ray_cluster: Any, redis_url: str
) -> None:
    """A cancelled driver kills its actors at once, as the end of a killed driver's job
    does: only requests in flight then are sent again. (Paced by a shared rate, not a
    shared concurrency limit: the leases of killed workers would hold for their 15 s.)"""
    source = write_chat_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    settings: dict[str, Any] = {"workers": 2, "shared": redis_url, "rpm": 1200}
    async with SimServer(SimConfig(ttft=0.02)) as sim:
        job = asyncio.create_task(
            sluice.batch.run_ray(source, out, base_url=sim.base_url, **settings)
        )
        await wait_for_requests(sim, 12, within=30)
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await quiet(sim, pause=0.5, within=20)  # what was sent just before the kill
        before = sim.metrics().total_requests
        assert before < 40
        again = await sluice.batch.run_ray(source, out, base_url=sim.base_url, **settings)
        total = sim.metrics().total_requests
    assert again.skipped_already_done >= 10
    assert total - before == again.sent
    assert 40 <= total <= 40 + 4  # the few in flight at the kill, at 20 requests a second
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 40


async def test_a_changed_input_is_refused_by_its_shard(
    tmp_path: Path, ray_cluster: Any, redis_url: str
) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run_ray(source, out, base_url=sim.base_url, shared=redis_url)
        write_lines(source, [chat_line("q3", "another question")])
        with pytest.raises(sluice.ConfigError, match=r"the input changed: custom_id 'q3'"):
            await sluice.batch.run_ray(source, out, base_url=sim.base_url, shared=redis_url)
        assert sim.metrics().total_requests == 8
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(8))


_DRIVER = """
import asyncio, sys
import sluice.batch
source, out, url, redis_url, address = sys.argv[1:]
asyncio.run(sluice.batch.run_ray(source, out, base_url=url, workers=2, shared=redis_url,
                                 rpm=1200, address=address))
"""


async def test_a_killed_driver_resumes_from_the_shards_journals(
    tmp_path: Path, ray_cluster: Any, redis_url: str
) -> None:
    """kill -9 of a driver (joined to this cluster): Ray ends its actors with it; the next
    run sends what had not been answered, and no id gets two lines."""
    import sys

    source = write_chat_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    address = ray_cluster.get_runtime_context().gcs_address
    async with SimServer(SimConfig(ttft=0.02)) as sim:
        args = [str(source), str(out), sim.base_url, redis_url, address]
        driver = await asyncio.create_subprocess_exec(sys.executable, "-c", _DRIVER, *args)
        try:
            await wait_for_requests(sim, 12, within=30)
        finally:
            driver.kill()  # SIGKILL
            async with asyncio.timeout(10):
                await driver.wait()
        await quiet(sim, pause=0.5, within=20)  # the actors are gone: nothing more arrives
        before = sim.metrics().total_requests
        assert before < 40
        again = await sluice.batch.run_ray(
            source, out, base_url=sim.base_url, workers=2, shared=redis_url, rpm=1200
        )
        total = sim.metrics().total_requests
    assert again.skipped_already_done >= 10
    assert total - before == again.sent
    assert 40 <= total <= 40 + 4  # the few in flight at the kill, at 20 requests a second
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 40
