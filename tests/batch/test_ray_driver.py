"""`run_ray`'s driver on every test run: its actors stood in for by `FakeRay` (in this
process, on this loop), the runner and the simulator real. (tests/batch/test_ray.py runs
the same on a real local cluster, opt-in.)"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

import sluice
import sluice.batch
import sluice.batch._ray as ray_driver
from sluice.sim import SimConfig, SimServer

from .fake_ray import FakeRay
from .files import chat_line, failed_entries, output_ids, write_chat_input, write_lines
from .sim_waits import quiet, wait_for_requests

pytestmark = pytest.mark.realtime


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch) -> FakeRay:
    ray = FakeRay()
    monkeypatch.setattr(ray_driver, "import_ray", lambda: ray)
    return ray


async def test_the_shards_answer_every_id_once_and_are_cleaned_up(
    tmp_path: Path, fake_ray: FakeRay
) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 45)
    with open(source, "a") as file:
        file.write("{broken\n")
    out = tmp_path / "out.jsonl"
    notices: list[str] = []
    seen: list[sluice.batch.Progress] = []
    async with SimServer(SimConfig()) as sim:
        result = await sluice.batch.run_ray(
            source, out, base_url=sim.base_url, workers=3, rpm=60000, notice=notices.append,
            progress=seen.append, progress_every=0.01,
        )  # fmt: skip
        assert sim.metrics().total_requests == 45
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 45
    assert (result.done, result.malformed, result.lines) == (45, 1, 46)
    assert [entry["line"] for entry in failed_entries(tmp_path / "out.failed.jsonl")] == [46]
    assert any("each of the 3 workers is given 1/3" in notice for notice in notices)
    assert seen[-1].done == 45
    assert fake_ray.options == {"num_cpus": 0.25, "max_restarts": 0, "max_task_retries": 0}
    assert len(fake_ray.actors) == 3
    assert all(actor.killed for actor in fake_ray.actors)
    assert (fake_ray.inits, fake_ray.shutdowns) == ([None], 1)  # started here: shut down


async def test_a_ray_already_running_is_left_running(tmp_path: Path, fake_ray: FakeRay) -> None:
    fake_ray.initialized = True
    source = write_chat_input(tmp_path / "in.jsonl", 4)
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run_ray(source, tmp_path / "o.jsonl", base_url=sim.base_url, rpm=600)
    assert (fake_ray.inits, fake_ray.shutdowns) == ([], 0)
    assert all(actor.killed for actor in fake_ray.actors)


async def test_a_stop_reaches_every_shard_and_the_job_resumes(
    tmp_path: Path, fake_ray: FakeRay
) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    stop = asyncio.Event()
    async with SimServer(SimConfig(ttft=0.02)) as sim:
        job = asyncio.create_task(
            sluice.batch.run_ray(
                source, out, base_url=sim.base_url, workers=2, rpm=600, stop_event=stop
            )
        )
        await wait_for_requests(sim, 5, within=20)
        stop.set()
        first = await job
        assert first.stopped == "interrupted"
        assert len(output_ids(out)) == first.done < 40
        again = await sluice.batch.run_ray(source, out, base_url=sim.base_url, workers=2, rpm=6e4)
        assert sim.metrics().total_requests == 40
    assert again.sent == 40 - first.done
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(40))


async def test_a_cancelled_driver_kills_its_actors_and_the_job_resumes(
    tmp_path: Path, fake_ray: FakeRay
) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig(ttft=0.02)) as sim:
        job = asyncio.create_task(
            sluice.batch.run_ray(source, out, base_url=sim.base_url, workers=2, rpm=600)
        )
        await wait_for_requests(sim, 5, within=20)
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        assert all(actor.killed for actor in fake_ray.actors)
        assert fake_ray.shutdowns == 1
        await quiet(sim, pause=0.2, within=10)  # what was sent just before the kill
        before = sim.metrics().total_requests
        again = await sluice.batch.run_ray(source, out, base_url=sim.base_url, workers=2, rpm=6e4)
        total = sim.metrics().total_requests
    assert total - before == again.sent
    # Sent again: at most those in flight at the kill, each shard's first second (300/min:
    # a burst of 5) and a few more at 5 a second.
    assert total <= 30 + 12
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 30


async def test_max_failures_in_one_shard_stops_the_job(tmp_path: Path, fake_ray: FakeRay) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 200)
    async with SimServer(SimConfig(faults={"400": 1.0}, ttft=0.01)) as sim:
        result = await sluice.batch.run_ray(
            source, tmp_path / "o.jsonl", base_url=sim.base_url, workers=2, rpm=6e4,
            concurrency=2, max_failures=3,
        )  # fmt: skip
        assert sim.metrics().total_requests < 40
    assert result.stopped is not None
    assert "max-failures" in result.stopped


async def test_a_shards_config_error_is_raised_as_itself(tmp_path: Path, fake_ray: FakeRay) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run_ray(source, out, base_url=sim.base_url, rpm=6e4)
        write_lines(source, [chat_line("q2", "changed")])
        with pytest.raises(sluice.ConfigError, match="the input changed: custom_id 'q2'"):
            await sluice.batch.run_ray(source, out, base_url=sim.base_url, rpm=6e4)
        assert sim.metrics().total_requests == 6
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(6))


async def test_the_other_settings_reach_every_shard(tmp_path: Path, fake_ray: FakeRay) -> None:
    """A cost cap (divided), prices and a cache file: what each shard spent adds up, and a
    second job on the same cache sends nothing."""
    source = write_chat_input(tmp_path / "in.jsonl", 12)
    prices = {"sim-model": {"input": 1.0, "output": 2.0}}
    notices: list[str] = []
    settings = {"rpm": 6e4, "prices": prices, "max_cost": 10.0, "cache": tmp_path / "c.sqlite"}
    async with SimServer(SimConfig()) as sim:
        first = await sluice.batch.run_ray(
            source, tmp_path / "a.jsonl", base_url=sim.base_url, notice=notices.append, **settings
        )
        second = await sluice.batch.run_ray(
            source, tmp_path / "b.jsonl", base_url=sim.base_url, **settings
        )
        assert sim.metrics().total_requests == 12
    assert any("max_cost=$5" in notice for notice in notices)
    assert first.spent_usd is not None
    assert first.spent_usd > 0
    assert second.cache_hits == 12
    assert sorted(output_ids(tmp_path / "b.jsonl")) == sorted(f"q{i}" for i in range(12))
