"""The output file and the journal on their own."""

from __future__ import annotations

import threading
from pathlib import Path

from sluice.batch._journal import Failure, Journal
from sluice.batch._output import OutputFile, output_line

from .files import output_ids


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    whole = output_line("a", 200, "r1", {"x": 1}) + output_line("b", 200, "r2", {"x": 2})
    path.write_bytes(whole + output_line("c", 200, "r3", {"x": 3})[:17])
    output = OutputFile(path)
    try:
        assert output.repaired == 17
        assert path.read_bytes() == whole
        end = output.append(output_line("c", 200, "r3", {"x": 3}))
        assert end == path.stat().st_size
    finally:
        output.close()
    assert output_ids(path) == ["a", "b", "c"]


def test_a_file_of_one_torn_line_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": "batch_req_1", "cust')
    OutputFile(path).close()
    assert path.read_bytes() == b""


def test_ids_after_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    output = OutputFile(path)
    try:
        first = output.append(output_line("a", 200, None, {}))
        second = output.append(output_line("b", 200, None, {}))
        third = output.append(output_line("c", 200, None, {}))
        assert output.custom_ids_after(0) == [("a", first), ("b", second), ("c", third)]
        assert output.custom_ids_after(first) == [("b", second), ("c", third)]
        assert output.custom_ids_after(third) == []
    finally:
        output.close()


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.load().done == set()
    journal.start()
    assert any(t.name == "sluice-batch-journal" for t in threading.enumerate())
    for i in range(1200):  # more than one transaction's worth
        journal.done(f"q{i}", b"d%d" % i, output_end=10 * (i + 1))
    journal.failed("bad", b"f", Failure(7, "BadRequestError", "no", retryable=False))
    journal.failed("busy", b"g", Failure(8, "RateLimitError", "later", retryable=True))
    journal.close()
    state = journal.load()
    assert len(state.done) == 1200
    assert state.fingerprints["q5"] == b"d5"
    assert state.output_offset == 12000
    assert state.failed["bad"] == Failure(7, "BadRequestError", "no", False)
    assert state.failed["busy"].retryable
    # A later success replaces a failure and counts the attempts.
    journal.start()
    journal.done("busy", b"g", output_end=12050)
    journal.close()
    state = journal.load()
    assert "busy" in state.done
    assert "busy" not in state.failed
