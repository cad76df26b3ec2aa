"""End to end against the simulator, in this process."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

import sluice
import sluice.batch
from sluice.sim import SimConfig, SimServer

from .files import (
    chat_line,
    failed_entries,
    output_ids,
    remove_journal,
    write_chat_input,
    write_lines,
)

pytestmark = pytest.mark.realtime


async def test_every_request_answered_once(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 60)
    with open(source, "a") as file:
        file.write("{broken\n")
        file.write(
            json.dumps({"model": "sim-model", "messages": [{"role": "user", "content": "p"}]})
        )
        file.write("\n")
    out = tmp_path / "out.jsonl"
    notices: list[str] = []
    async with SimServer(SimConfig()) as sim:
        result = await sluice.batch.run(source, out, base_url=sim.base_url, notice=notices.append)
        assert sim.metrics().status_count(200) == 61
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 61
    assert {f"q{i}" for i in range(60)} <= set(ids)
    line = json.loads(out.read_text().splitlines()[0])
    assert set(line) == {"id", "custom_id", "response", "error"}
    assert line["response"]["status_code"] == 200
    assert line["response"]["request_id"]
    assert line["response"]["body"]["choices"][0]["message"]["content"]
    assert result.done == 61
    assert result.malformed == 1
    assert not result.succeeded
    assert [e["line"] for e in failed_entries(result.failed_path)] == [61]
    assert any("plain request bodies" in n for n in notices)


async def test_400s_go_to_the_failed_file_and_resume_sends_nothing(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig(faults={"400": 0.3}, seed=3)) as sim:
        first = await sluice.batch.run(source, out, base_url=sim.base_url, concurrency=4)
        assert 0 < first.failed < 40
        assert first.done + first.failed == 40
        failed = failed_entries(first.failed_path)
        assert {e["error_class"] for e in failed} == {"BadRequestError"}
        assert set(output_ids(out)).isdisjoint(e["custom_id"] for e in failed)
        assert len(output_ids(out)) + len(failed) == 40
        sent = sim.metrics().total_requests
        again = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert sim.metrics().total_requests == sent  # done and failed for good: nothing sent
        assert again.skipped_already_done == first.done
        assert again.failed == first.failed
        assert len(failed_entries(again.failed_path)) == first.failed  # still listed
        retried = await sluice.batch.run(
            source, out, base_url=sim.base_url, retry_failed=True, concurrency=4
        )
        assert retried.sent == first.failed
    ids = output_ids(out)
    assert len(ids) == len(set(ids))


async def test_dedup_sends_a_repeated_body_once(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 50, distinct=5)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig(ttft=0.02)) as sim:
        result = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert sim.metrics().status_count(200) == 5
    assert result.sent == 5
    assert result.deduplicated == 45
    assert result.succeeded
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(50))
    out2 = tmp_path / "out2.jsonl"
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run(source, out2, base_url=sim.base_url, dedup=False)
        assert sim.metrics().status_count(200) == 50


async def test_a_changed_input_is_refused(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run(source, out, base_url=sim.base_url)
        write_lines(source, [chat_line("q0", "question 0"), chat_line("q1", "something else")])
        with pytest.raises(sluice.ConfigError, match=r"the input changed: custom_id 'q1'"):
            await sluice.batch.run(source, out, base_url=sim.base_url)
        assert sim.metrics().status_count(200) == 5


async def test_one_id_with_two_bodies_is_refused(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat_line("a", "x"), chat_line("a", "y")])
    with pytest.raises(sluice.ConfigError, match="appears on lines 1 and 2"):
        await sluice.batch.run(source, tmp_path / "out.jsonl", base_url="http://127.0.0.1:9/v1")


async def test_max_failures_stops_early(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig(faults={"400": 1.0})) as sim:
        result = await sluice.batch.run(
            source, out, base_url=sim.base_url, concurrency=2, max_failures=5
        )
        assert result.stopped is not None
        assert "max-failures" in result.stopped
        assert 5 <= sim.metrics().total_requests <= 5 + 2
    async with SimServer(SimConfig(faults={"400": 1.0})) as sim:
        share = await sluice.batch.run(
            source, tmp_path / "o2.jsonl", base_url=sim.base_url, concurrency=2, max_failures="50%"
        )
        assert share.stopped is not None
        assert sim.metrics().total_requests <= 20 + 2


async def test_stop_event_finishes_in_flight_and_resumes(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig(ttft=0.05)) as sim:
        event = asyncio.Event()
        event.set()
        first = await sluice.batch.run(
            source, out, base_url=sim.base_url, concurrency=3, stop_event=event
        )
        assert first.stopped == "interrupted"
        assert first.done == 0
        second = await sluice.batch.run(source, out, base_url=sim.base_url, concurrency=3)
        assert second.succeeded
        assert second.done == 30
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(30))


async def test_output_lines_not_yet_journaled_count_as_done(tmp_path: Path) -> None:
    """A kill between an output line's write and its journal commit: the resumed run finds
    the line past the journal's offset and neither sends the id again nor writes it twice."""
    source = write_chat_input(tmp_path / "in.jsonl", 12)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run(source, out, base_url=sim.base_url)
        lines = out.read_bytes().splitlines(keepends=True)
        kept = sum(len(line) for line in lines[:7])
        last_ids = [json.loads(line)["custom_id"] for line in lines[7:]]
        with sqlite3.connect(f"{out}.journal.sqlite") as db:  # forget the last five commits
            db.executemany("DELETE FROM requests WHERE custom_id = ?", [(i,) for i in last_ids])
            db.execute("UPDATE meta SET value = ? WHERE key = 'output_offset'", (kept,))
        db.close()
        sent = sim.metrics().total_requests
        again = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert sim.metrics().total_requests == sent
    assert again.skipped_already_done == 12
    assert again.sent == 0
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 12


async def test_a_stop_sends_nothing_waiting_in_the_gate(tmp_path: Path) -> None:
    """At 300 requests/min the window waits in the gate's rate limit; a stop leaves all of
    it for the next run instead of sending it."""
    source = write_chat_input(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out.jsonl"
    event = asyncio.Event()
    async with SimServer(SimConfig()) as sim:
        asyncio.get_running_loop().call_later(0.5, event.set)
        first = await sluice.batch.run(
            source, out, base_url=sim.base_url, rpm=300, window=40, stop_event=event
        )
        answered = sim.metrics().total_requests
        assert first.stopped == "interrupted"
        assert answered == first.sent == first.done
        assert answered <= 8  # 300/min: a second's burst (5) at once, then 5 a second
        assert first.not_sent >= 30
        second = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert second.sent == 60 - answered
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 60


async def test_max_failures_with_the_adaptive_default(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 300)
    async with SimServer(SimConfig(faults={"400": 1.0}, ttft=0.01)) as sim:
        result = await sluice.batch.run(
            source, tmp_path / "out.jsonl", base_url=sim.base_url, max_failures=3
        )
        assert result.stopped is not None
        assert sim.metrics().total_requests <= 3 + 16  # the adaptive limit starts at 16
        assert result.not_sent > 0


async def test_a_fault_mix_ends_every_request_in_one_file(tmp_path: Path) -> None:
    """429s with Retry-After and 5xx are retried by the gate; 400s fail at once; every id
    ends up in the output or in the failed file, never both, never twice."""
    source = write_chat_input(tmp_path / "in.jsonl", 80)
    out = tmp_path / "out.jsonl"
    faults = {"429": 0.1, "500": 0.1, "503": 0.05, "400": 0.05}
    async with SimServer(SimConfig(faults=faults, retry_after=0.05, seed=7)) as sim:
        result = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert sim.metrics().faults.get("429", 0) > 0
    done = output_ids(out)
    failed = [entry["custom_id"] for entry in failed_entries(result.failed_path)]
    assert len(done) == len(set(done)) == result.done
    assert len(failed) == len(set(failed)) == result.failed
    assert set(done).isdisjoint(failed)
    assert set(done) | set(failed) == {f"q{i}" for i in range(80)}


async def test_an_output_shorter_than_its_journal_is_refused(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run(source, out, base_url=sim.base_url)
        out.write_bytes(b"")  # deleted and made anew, the journal kept
        with pytest.raises(sluice.ConfigError, match="truncated or replaced"):
            await sluice.batch.run(source, out, base_url=sim.base_url)
        assert sim.metrics().total_requests == 5


async def test_bad_arguments_say_what_to_do(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    out = tmp_path / "out.jsonl"
    url = "http://127.0.0.1:9/v1"
    with pytest.raises(sluice.ConfigError, match="needs base_url"):
        await sluice.batch.run(source, out)
    with pytest.raises(sluice.ConfigError, match="concurrency must be"):
        await sluice.batch.run(source, out, base_url=url, concurrency=0)
    with pytest.raises(sluice.ConfigError, match="max_failures must be"):
        await sluice.batch.run(source, out, base_url=url, max_failures="150%")
    with pytest.raises(sluice.ConfigError, match="must not be the input"):
        await sluice.batch.run(source, source, base_url=url)
    with pytest.raises(sluice.ConfigError, match="is not a file"):
        await sluice.batch.run(tmp_path / "missing.jsonl", out, base_url=url)


async def test_a_lost_journal_is_rebuilt_from_the_output(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        await sluice.batch.run(source, out, base_url=sim.base_url)
        remove_journal(out)
        again = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert again.sent == 0
        assert again.skipped_already_done == 6
        third = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert third.skipped_already_done == 6
        assert sim.metrics().total_requests == 6
    assert len(output_ids(out)) == 6


async def test_runners_given_a_redis_url_share_their_limits_there(
    tmp_path: Path, redis_url: str
) -> None:
    import redis

    first = write_chat_input(tmp_path / "a.jsonl", 10)
    second = write_chat_input(tmp_path / "b.jsonl", 10)
    async with SimServer(SimConfig()) as sim:
        results = await asyncio.gather(
            sluice.batch.run(first, tmp_path / "a.out.jsonl", base_url=sim.base_url,
                             rpm=6000, shared=redis_url),
            sluice.batch.run(second, tmp_path / "b.out.jsonl", base_url=sim.base_url,
                             rpm=6000, shared=redis_url),
        )  # fmt: skip
    assert [result.done for result in results] == [10, 10]
    client = redis.Redis.from_url(redis_url)
    try:
        # One gate's state for both runners: the client's gate is named after the host.
        keys = {key.decode() for key in client.keys("{sluice:llm:*")}
    finally:
        client.close()
    assert len({key.split("}")[0] for key in keys}) == 1
    assert any(key.endswith("}") for key in keys)  # the state hash: its rate was booked


def test_a_client_and_a_shared_url_are_not_given_together(tmp_path: Path) -> None:
    from sluice.llm import Client

    source = write_chat_input(tmp_path / "in.jsonl", 1)
    client = Client("http://127.0.0.1:9/v1")
    with pytest.raises(sluice.ConfigError, match="shared"):
        sluice.batch.run_sync(source, tmp_path / "out.jsonl", client=client, shared="redis://x")


async def test_with_nothing_pinned_the_first_answer_s_limits_pace_the_rest(
    tmp_path: Path,
) -> None:
    """The first request goes alone; the rates its headers report are pinned, so the rest
    starts at the full window, paced, instead of growing from a small blind start."""
    source = write_chat_input(tmp_path / "in.jsonl", 30)
    seen: list[sluice.batch.Progress] = []
    async with SimServer(SimConfig(rpm=6000, tpm=600_000)) as sim:
        result = await sluice.batch.run(
            source, tmp_path / "out.jsonl", base_url=sim.base_url, window=64, progress=seen.append
        )
        refused = sim.metrics().status_count(429)
    assert result.succeeded
    assert result.sent == 30
    assert refused == 0
    assert "rpm 6000" in seen[-1].limits
    assert "tpm 600000" in seen[-1].limits
    assert "concurrency 64" in seen[-1].limits  # the window: not the blind start's 16


async def test_with_no_limits_reported_the_adaptive_limit_starts_small(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 20)
    seen: list[sluice.batch.Progress] = []
    async with SimServer(SimConfig()) as sim:
        result = await sluice.batch.run(
            source, tmp_path / "out.jsonl", base_url=sim.base_url, window=64, progress=seen.append
        )
    assert result.succeeded
    assert "rpm" not in seen[-1].limits
    assert "concurrency 16" in seen[-1].limits
