"""``sluice run``: exit codes and what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sluice.cli._app import cli
from sluice.sim import SimConfig, SimProcess

from .files import chat_line, output_ids, write_chat_input, write_lines

pytestmark = pytest.mark.realtime


def test_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_chat_input(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig()) as sim:
        args = ["run", str(source), "--base-url", sim.base_url, "--output", str(out)]
        done = runner.invoke(cli, [*args, "--progress-every", "0.01"])
        assert done.exit_code == 0, done.output
        assert "done 20" in done.output
        assert len(output_ids(out)) == 20
        again = runner.invoke(cli, args)
        assert again.exit_code == 0
        assert "skipped (already done) 20" in again.output

        with open(source, "a") as file:
            file.write("oops\n")
        some_failed = runner.invoke(cli, args)
        assert some_failed.exit_code == 1
        assert "out.failed.jsonl" in some_failed.output

        write_lines(source, [chat_line("q0", "changed")])
        changed = runner.invoke(cli, args)
        assert changed.exit_code == 2
        assert "the input changed" in changed.output


def test_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    base = _unreachable_run(source, tmp_path / "o")
    bad = runner.invoke(cli, [*base, "--max-failures", "lots"])
    assert bad.exit_code == 2
    assert "max_failures must be" in bad.output
    missing = runner.invoke(
        cli, ["run", str(tmp_path / "nope.jsonl"), "--base-url", "x", "-o", "o"]
    )
    assert missing.exit_code == 2


def test_ray_options_are_checked_before_ray_starts(tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    base = _unreachable_run(source, tmp_path / "o")
    alone = runner.invoke(cli, [*base, "--workers", "2"])
    assert alone.exit_code == 2
    assert "give --ray too" in alone.output
    unshared = runner.invoke(cli, [*base, "--ray", "--workers", "2"])
    assert unshared.exit_code == 2
    assert "give shared= a Redis URL" in unshared.output
    assert not (tmp_path / "o.shards").exists()


def _unreachable_run(source: Path, out: Path) -> list[str]:
    """``sluice run`` arguments aimed at a port nobody listens on: for errors found first."""
    return ["run", str(source), "--base-url", "http://127.0.0.1:9/v1", "-o", str(out)]
