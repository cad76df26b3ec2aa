"""The pure parts of a job on Ray (no Ray needed): sharding, the shard layout, the limits
each shard is given, the merge of the shards' files and results, the argument checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import sluice
import sluice.batch
import sluice.stores
from sluice.batch._input import parse_line
from sluice.batch._journal import JournalState
from sluice.batch._merge import combine, combine_progress, merge_files
from sluice.batch._plan import Plan
from sluice.batch._ray import make_job
from sluice.batch._result import BatchResult, Progress
from sluice.batch._shard import ShardFilter, ShardLayout, ShardLimits, shard_of

from .files import chat_line, write_chat_input, write_lines

URL = "http://127.0.0.1:9/v1"


def test_a_custom_id_always_lands_in_the_same_shard() -> None:
    shards = [shard_of(f"q{i}", 4) for i in range(400)]
    assert shards == [shard_of(f"q{i}", 4) for i in range(400)]
    # Pinned: a change would move the ids of existing jobs away from their journals.
    assert shards[:12] == [1, 0, 2, 1, 0, 0, 3, 2, 3, 3, 2, 0]
    counts = [shards.count(index) for index in range(4)]
    assert min(counts) > 60  # spread, not lumped


def test_every_entry_belongs_to_exactly_one_shard(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 50)
    with open(source, "a") as file:
        file.write("{broken\n")
        file.write(json.dumps({"custom_id": "x", "method": "GET", "url": "/v1/embeddings"}) + "\n")
    entries = [parse_line(raw, n) for n, raw in enumerate(source.read_bytes().splitlines(), 1)]
    owners = [[index for index in range(3) if ShardFilter(index, 3)(e)] for e in entries]
    assert all(len(owner) == 1 for owner in owners)
    assert owners[50] == [0]  # a malformed line without an id: shard 0 reports it


def test_a_shards_plan_holds_only_its_ids(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 30)
    journal = tmp_path / "j.sqlite"
    plans = [
        Plan.make(source, JournalState(), journal, retry_failed=False, keep=ShardFilter(i, 3))
        for i in range(3)
    ]
    planned = [{entry.custom_id for entry in plan.pending()} for plan in plans]
    assert sum(plan.lines for plan in plans) == 30
    assert set.union(*planned) == {f"q{i}" for i in range(30)}
    assert sum(len(ids) for ids in planned) == 30
    for index, ids in enumerate(planned):
        assert all(shard_of(custom_id, 3) == index for custom_id in ids)


def test_a_shard_still_refuses_one_id_with_two_bodies(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [chat_line("a", "x"), chat_line("a", "y")])
    owner = shard_of("a", 2)
    with pytest.raises(sluice.ConfigError, match="appears on lines 1 and 2"):
        Plan.make(source, JournalState(), tmp_path / "j", retry_failed=False,
                  keep=ShardFilter(owner, 2))  # fmt: skip


def test_the_layout_is_named_after_the_output(tmp_path: Path) -> None:
    layout = ShardLayout.of(tmp_path / "answers.jsonl", 2)
    assert layout.directory == tmp_path / "answers.jsonl.shards"
    assert layout.parts[1] == tmp_path / "answers.jsonl.shards" / "part-001.jsonl"
    assert layout.failed_parts[1].name == "part-001.failed.jsonl"
    assert layout.failed == tmp_path / "answers.failed.jsonl"


def test_a_job_keeps_its_shard_count(tmp_path: Path) -> None:
    ShardLayout.of(tmp_path / "out.jsonl", 3).claim()
    ShardLayout.of(tmp_path / "out.jsonl", 3).claim()  # the same count resumes
    with pytest.raises(sluice.ConfigError, match="started with workers=3"):
        ShardLayout.of(tmp_path / "out.jsonl", 2).claim()


def test_an_output_of_another_kind_is_refused(tmp_path: Path) -> None:
    single = tmp_path / "single.jsonl"
    (tmp_path / "single.jsonl.journal.sqlite").write_bytes(b"")
    with pytest.raises(sluice.ConfigError, match="started by a single runner"):
        ShardLayout.of(single, 2).claim()
    stray = tmp_path / "stray.jsonl"
    stray.write_text('{"custom_id": "a"}\n')
    with pytest.raises(sluice.ConfigError, match="no shard state"):
        ShardLayout.of(stray, 2).claim()
    with pytest.raises(sluice.ConfigError, match="workers must be an int >= 1"):
        ShardLayout.of(stray, 0)


def test_limits_are_divided_only_without_a_shared_redis() -> None:
    shared = ShardLimits.of(4, rpm=400, tpm=None, concurrency=10, shared="redis://h/0")
    assert (shared.rpm, shared.concurrency, shared.divided) == (400, 10, False)
    alone = ShardLimits.of(4, rpm=400, tpm=8000, concurrency=10, shared=None)
    assert (alone.rpm, alone.tpm, alone.concurrency, alone.divided) == (100, 2000, 3, True)
    assert "each of the 4 workers is given 1/4" in alone.describe(4)
    assert "rpm=100" in alone.describe(4)
    one = ShardLimits.of(1, rpm=None, tpm=None, concurrency=None, shared=None)
    assert not one.divided
    assert one.describe(1) is None
    with pytest.raises(sluice.ConfigError, match="give shared= a Redis URL"):
        ShardLimits.of(2, rpm=None, tpm=None, concurrency=None, shared=None)


def test_a_cost_cap_is_divided_even_through_a_shared_redis() -> None:
    limits = ShardLimits.of(4, rpm=None, tpm=None, concurrency=None, shared="redis://h/0",
                            max_cost=10.0)  # fmt: skip
    assert limits.max_cost == 2.5
    assert not limits.divided
    notice = limits.describe(4)
    assert notice is not None
    assert "spending is not shared" in notice
    assert "max_cost=$2.5" in notice


def test_the_merge_takes_each_parts_whole_lines(tmp_path: Path) -> None:
    parts = [tmp_path / "p0", tmp_path / "p1", tmp_path / "p2"]
    parts[0].write_bytes(b'{"custom_id":"a"}\n{"custom_id":"b"}\n')
    parts[1].write_bytes(b'{"custom_id":"c"}\n{"custom_id":"d", "torn')  # a killed writer
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"custom_id":"old"}\n')
    assert merge_files(parts, out) == 3  # p2 missing: a shard that had nothing to do
    assert out.read_bytes() == b'{"custom_id":"a"}\n{"custom_id":"b"}\n{"custom_id":"c"}\n'
    assert not (tmp_path / "out.jsonl.merging").exists()


def test_the_merge_of_large_parts_keeps_every_line(tmp_path: Path) -> None:
    part = tmp_path / "p0"
    lines = [json.dumps({"custom_id": f"q{i}", "pad": "x" * 300}) + "\n" for i in range(8000)]
    part.write_text("".join(lines))  # past one read chunk
    out = tmp_path / "out.jsonl"
    assert merge_files([part], out) == 8000
    assert out.read_bytes() == part.read_bytes()


def _result(tmp_path: Path, **counts: object) -> BatchResult:
    fields: dict[str, object] = dict.fromkeys(
        ("lines", "sent", "not_sent", "done", "failed", "malformed", "skipped_already_done",
         "deduplicated", "repeated_lines"), 0)  # fmt: skip
    fields.update(counts)
    part = tmp_path / "p.jsonl"
    return BatchResult(output=part, failed_path=part, journal_path=part, stopped=None,
                       elapsed=1.0, **fields)  # type: ignore[arg-type]  # fmt: skip


def test_results_and_progress_add_up(tmp_path: Path) -> None:
    layout = ShardLayout.of(tmp_path / "out.jsonl", 2)
    first = _result(tmp_path, lines=10, done=7, failed=1, sent=8, spent_usd=0.5, cache_hits=2)
    second = _result(tmp_path, lines=5, done=5, sent=5, malformed=1, spent_usd=None)
    second = dataclasses.replace(second, stopped="interrupted")
    total = combine([first, second], layout, elapsed=3.0)
    assert (total.lines, total.done, total.failed, total.sent, total.malformed) == (
        15,
        12,
        1,
        13,
        1,
    )
    assert total.stopped == "interrupted"
    assert (total.spent_usd, total.cache_hits) == (0.5, 2)
    assert total.output == tmp_path / "out.jsonl"
    assert total.failed_path == tmp_path / "out.failed.jsonl"
    assert not total.succeeded
    seen = combine_progress(
        [Progress(3, 1, 2, 0, 5.0, 60.0), Progress(4, 0, 1, 2, 5.0, float("nan"))], elapsed=6.0
    )
    assert (seen.done, seen.failed, seen.in_flight, seen.skipped_already_done) == (7, 1, 3, 2)
    assert (seen.per_minute, seen.elapsed) == (60.0, 6.0)


def _job(tmp_path: Path, **overrides: object) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    settings: dict[str, object] = {
        "workers": 2, "address": None, "num_cpus": 0.25, "start_timeout": 10.0,
        "stop_timeout": 10.0, "progress": None, "base_url": URL, "shared": "redis://h/0",
    }  # fmt: skip
    settings.update(overrides)
    make_job(source, tmp_path / "out.jsonl", **settings)  # type: ignore[arg-type]


def test_bad_arguments_are_refused_before_ray_is_needed(tmp_path: Path) -> None:
    _job(tmp_path)  # fine
    with pytest.raises(sluice.ConfigError, match="give shared= a Redis URL"):
        _job(tmp_path, shared=None)
    with pytest.raises(sluice.ConfigError, match="num_cpus must be a number > 0"):
        _job(tmp_path, num_cpus=0)
    with pytest.raises(sluice.ConfigError, match="workers must be an int >= 1"):
        _job(tmp_path, workers=0)
    with pytest.raises(sluice.ConfigError, match="not client="):
        _job(tmp_path, client=object())
    with pytest.raises(sluice.ConfigError, match="needs no Ray"):
        _job(tmp_path, dry_run=True)
    with pytest.raises(sluice.ConfigError, match="not kept across shards"):
        _job(tmp_path, ordered=True)
    with pytest.raises(sluice.ConfigError, match="takes a file path"):
        _job(tmp_path, cache=sluice.stores.MemoryStore())
    with pytest.raises(sluice.ConfigError, match="is not a file"):
        make_job(tmp_path / "missing.jsonl", tmp_path / "o.jsonl", workers=1, address=None,
                 num_cpus=1, start_timeout=1, stop_timeout=1, progress=None,
                 base_url=URL)  # fmt: skip
    assert not (tmp_path / "out.jsonl.shards").exists()  # nothing written by a refused job
