"""kill -9 of a runner at random moments, then a resume: the key proof of the journal.

The runner is ``sluice run`` in a child process against a simulator in another; it is killed
with SIGKILL once its output holds a random number of lines (plus a random extra delay), then
run again to completion. The simulator's counter of answered requests proves that the
resumed run sent exactly the ids that had no output line: none that had completed was sent
again, and only the requests in flight at the kill were answered twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sluice
from sluice.batch._journal import Journal
from sluice.batch._order import SPAN_PER_WINDOW
from sluice.sim import SimConfig, SimProcess

from .files import output_ids, write_chat_input

pytestmark = pytest.mark.realtime

COUNT = 240
CONCURRENCY = 4
SRC = str(Path(sluice.__file__).parents[1])


def _runner(source: Path, out: Path, base_url: str, *extra: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from sluice.cli import main; main()",
        "run",
        str(source),
        "--base-url",
        base_url,
        "--output",
        str(out),
        "--concurrency",
        str(CONCURRENCY),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait_for_lines(out: Path, count: int, runner: subprocess.Popen[bytes] | None = None) -> None:
    """Until ``out`` holds ``count`` lines (bounded); with ``runner``, failing if it ends."""
    deadline = time.monotonic() + 20
    while _lines(out) < count and time.monotonic() < deadline:
        if runner is not None:
            assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
        time.sleep(0.002)


def _kill_9_after(runner: subprocess.Popen[bytes], out: Path, lines: int, delay: float) -> None:
    """SIGKILL ``runner`` ``delay`` seconds after its output holds ``lines`` lines."""
    try:
        _wait_for_lines(out, lines, runner)
        time.sleep(delay)
        runner.send_signal(signal.SIGKILL)
    finally:
        runner.kill()
        runner.wait(10)
        if runner.stderr:
            runner.stderr.close()


def _resume(source: Path, out: Path, base_url: str, *extra: str) -> None:
    """Run the same command again, to its successful end."""
    resumed = _runner(source, out, base_url, *extra)
    _, stderr = resumed.communicate(timeout=30)
    assert resumed.returncode == 0, stderr.decode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_then_resume_sends_no_completed_id_again(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    source = write_chat_input(tmp_path / "in.jsonl", COUNT)
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig(ttft=0.02)) as sim:
        runner = _runner(source, out, sim.base_url)
        _kill_9_after(runner, out, rng.randrange(1, COUNT - 40), rng.uniform(0, 0.03))
        assert runner.returncode == -signal.SIGKILL
        answered_before = sim.metrics().status_count(200)
        completed = set(output_ids(out))
        assert 0 < len(completed) < COUNT
        # Answered by the server but not written when the kill came: in flight.
        in_flight = answered_before - len(completed)
        assert 0 <= in_flight <= CONCURRENCY
        # Lines written but not yet journaled at the kill: the resume finds them in the output.
        journaled = Journal(Path(f"{out}.journal.sqlite")).load()
        unjournaled = out.read_bytes()[journaled.output_offset :].count(b"\n")

        _resume(source, out, sim.base_url)
        sent_by_resume = sim.metrics().status_count(200) - answered_before

    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == COUNT  # one line per custom_id, none lost
    assert sent_by_resume == COUNT - len(completed)  # no completed id sent again
    print(
        f"seed {seed}: {len(completed)} done at the kill ({unjournaled} not yet journaled), "
        f"{in_flight} answered but unwritten, resume sent {sent_by_resume}"
    )


def test_ctrl_c_finishes_what_is_in_flight_then_resumes(tmp_path: Path) -> None:
    count = 80
    source = write_chat_input(tmp_path / "in.jsonl", count)
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig(ttft=0.05)) as sim:
        runner = _runner(source, out, sim.base_url)
        try:
            _wait_for_lines(out, 10)
            runner.send_signal(signal.SIGINT)
            _, stderr = runner.communicate(timeout=20)
        finally:
            runner.kill()
            runner.wait(10)
        assert runner.returncode == 130, stderr.decode()
        assert b"run the same command again to resume" in stderr
        written = len(output_ids(out))
        assert written < count
        # Every request the server answered was written: none was left in flight.
        assert sim.metrics().status_count(200) == written
        _resume(source, out, sim.base_url)
        assert sim.metrics().status_count(200) == count
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == count


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    count = 16
    source = write_chat_input(tmp_path / "in.jsonl", count)
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig(ttft=0.3)) as sim:
        runner = _runner(source, out, sim.base_url)
        try:
            _wait_for_lines(out, 4)
            runner.send_signal(signal.SIGINT)
            time.sleep(0.1)
            runner.send_signal(signal.SIGINT)
            _, stderr = runner.communicate(timeout=10)
        finally:
            runner.kill()
            runner.wait(10)
        assert runner.returncode == 130, stderr.decode()
        assert b"Traceback" not in stderr
        _resume(source, out, sim.base_url)
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == count


def _numbers(ids: list[str]) -> list[int]:
    return [int(custom_id[1:]) for custom_id in ids]


@pytest.mark.parametrize("seed", [4, 5])
def test_kill_9_of_an_ordered_run_then_resume(tmp_path: Path, seed: int) -> None:
    """--ordered: what the killed run wrote is in input order, and what the resumed run
    appends is too; no answer held (not yet written) was journaled as done, so the held ones
    are sent again, and nothing written is."""
    rng = random.Random(seed)
    source = write_chat_input(tmp_path / "in.jsonl", COUNT)
    out = tmp_path / "out.jsonl"
    config = SimConfig(ttft=0.01, jitter="lognormal", jitter_cv=1.0, seed=seed)
    with SimProcess(config) as sim:
        runner = _runner(source, out, sim.base_url, "--ordered")
        _kill_9_after(runner, out, rng.randrange(1, COUNT - 60), rng.uniform(0, 0.03))
        answered_before = sim.metrics().status_count(200)
        written = output_ids(out)
        journaled = Journal(Path(f"{out}.journal.sqlite")).load()
        assert journaled.done <= set(written)  # a held answer is never journaled as done
        assert _numbers(written) == list(range(len(written)))  # a prefix of the input
        held_or_in_flight = answered_before - len(written)
        assert 0 <= held_or_in_flight <= SPAN_PER_WINDOW * CONCURRENCY

        _resume(source, out, sim.base_url, "--ordered")
        sent_by_resume = sim.metrics().status_count(200) - answered_before

    ids = output_ids(out)
    assert _numbers(ids) == list(range(COUNT))  # no failure here: input order end to end
    assert sent_by_resume == COUNT - len(written)
    print(f"seed {seed}: {len(written)} written, {held_or_in_flight} held or in flight")
