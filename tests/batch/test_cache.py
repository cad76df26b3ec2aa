"""``cache=`` / ``--cache``: answers kept across runs and input files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import sluice
import sluice.batch
from sluice.cli._app import cli
from sluice.sim import SimConfig, SimProcess, SimServer
from sluice.stores import MemoryStore

from .files import chat_line, output_ids, write_chat_input, write_lines

pytestmark = pytest.mark.realtime


async def test_a_second_input_repeating_bodies_is_answered_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "answers.cache.sqlite"
    first = write_chat_input(tmp_path / "a.jsonl", 10)
    # Other ids, the bodies of q0..q5 again, and four new bodies.
    second = write_lines(
        tmp_path / "b.jsonl",
        [chat_line(f"r{i}", f"question {i}") for i in range(6)]
        + [chat_line(f"r{i}", f"new question {i}") for i in range(6, 10)],
    )
    async with SimServer(SimConfig()) as sim:
        one = await sluice.batch.run(first, tmp_path / "a.out.jsonl", base_url=sim.base_url,
                                     cache=cache)  # fmt: skip
        assert one.cache_hits == 0
        assert sim.metrics().status_count(200) == 10
        two = await sluice.batch.run(second, tmp_path / "b.out.jsonl", base_url=sim.base_url,
                                     cache=cache)  # fmt: skip
        assert sim.metrics().status_count(200) == 14  # only the four new bodies were sent
    assert two.cache_hits == 6
    assert two.sent == 4
    assert two.done == 10
    assert "from the cache 6" in two.summary()
    lines = {json.loads(line)["custom_id"]: json.loads(line)
             for line in (tmp_path / "b.out.jsonl").read_text().splitlines()}  # fmt: skip
    earlier = {json.loads(line)["custom_id"]: json.loads(line)
               for line in (tmp_path / "a.out.jsonl").read_text().splitlines()}  # fmt: skip
    assert lines["r3"]["response"] == earlier["q3"]["response"]  # the same answer, replayed
    assert lines["r3"]["id"] != earlier["q3"]["id"]  # a line of its own


async def test_another_base_url_and_failures_are_not_served(tmp_path: Path) -> None:
    store = MemoryStore()
    source = write_chat_input(tmp_path / "in.jsonl", 12)
    async with SimServer(SimConfig(faults={"400": 0.5}, seed=2)) as sim:
        first = await sluice.batch.run(source, tmp_path / "1.jsonl", base_url=sim.base_url,
                                       cache=store)  # fmt: skip
        assert 0 < first.failed < 12
    async with SimServer(SimConfig()) as sim:  # another port: another base URL
        other = await sluice.batch.run(source, tmp_path / "2.jsonl", base_url=sim.base_url,
                                       cache=store)  # fmt: skip
        assert other.cache_hits == 0
        assert sim.metrics().status_count(200) == 12
        # The same server again: its 12 answers are kept, the failures never were.
        again = await sluice.batch.run(source, tmp_path / "3.jsonl", base_url=sim.base_url,
                                       cache=store)  # fmt: skip
        assert again.cache_hits == 12
        assert sim.metrics().status_count(200) == 12
    assert sorted(output_ids(tmp_path / "3.jsonl")) == sorted(f"q{i}" for i in range(12))
    await store.aclose()


async def test_a_broken_cache_is_a_miss_said_once(tmp_path: Path) -> None:
    class Broken(MemoryStore):
        async def get(self, key: str) -> bytes | None:
            raise OSError("disk gone")

    notices: list[str] = []
    source = write_chat_input(tmp_path / "in.jsonl", 5)
    async with SimServer(SimConfig()) as sim:
        result = await sluice.batch.run(source, tmp_path / "o.jsonl", base_url=sim.base_url,
                                        cache=Broken(), notice=notices.append)  # fmt: skip
    assert result.succeeded
    assert result.done == 5
    assert [n for n in notices if "answer cache failed" in n] == [notices[-1]]
    assert "disk gone" in notices[-1]


def test_a_cache_path_must_be_a_file_of_its_own(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    out = tmp_path / "out.jsonl"
    url = "http://127.0.0.1:9/v1"
    with pytest.raises(sluice.ConfigError, match="file of its own"):
        sluice.batch.run_sync(source, out, base_url=url, cache=out)
    with pytest.raises(sluice.ConfigError, match="is a folder"):
        sluice.batch.run_sync(source, out, base_url=url, cache=tmp_path)
    with pytest.raises(sluice.ConfigError, match="does not exist"):
        sluice.batch.run_sync(source, out, base_url=url, cache=tmp_path / "no" / "c.sqlite")
    with pytest.raises(sluice.ConfigError, match="cache must be"):
        sluice.batch.run_sync(source, out, base_url=url, cache=42)


def test_the_command_takes_a_cache_file(tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_chat_input(tmp_path / "in.jsonl", 8)
    cache = tmp_path / "c.sqlite"
    with SimProcess(SimConfig()) as sim:
        for name in ("one", "two"):
            args = ["run", str(source), "--base-url", sim.base_url, "-o",
                    str(tmp_path / f"{name}.jsonl"), "--cache", str(cache)]  # fmt: skip
            result = runner.invoke(cli, args)
            assert result.exit_code == 0, result.output
        assert sim.metrics().status_count(200) == 8
    assert "from the cache 8" in result.output
    assert len(output_ids(tmp_path / "two.jsonl")) == 8
