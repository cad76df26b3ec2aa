"""Numbers and paths the commands cannot use are refused before any work starts: a one-line
message naming the option, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from sluice.cli import _checks
from sluice.cli._app import cli
from sluice.cli._checks import (
    RATE_PER_PROCESS,
    check_connections,
    check_rate,
    check_report_folder,
    check_workers,
    usable_cpus,
)


def _run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a failure here
    return result


def _refused(*args: str) -> str:
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    return line


LOAD, STRATEGIES, DEMO = ["bench", "load"], ["bench", "strategies"], ["demo"]


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        (LOAD, ["-c", "inf"], "every level must be a finite number, got inf"),
        (LOAD, ["-c", "10,nan"], "every level must be a finite number, got nan"),
        (LOAD, ["-r", "inf"], "every level must be a finite number, got inf"),
        (LOAD, ["-c", "1e9"], "1000000000 connections need as many local ports"),
        (LOAD, ["-r", "1e9"], "1e+09 requests/s is beyond what the generator can send"),
        (LOAD, ["-r", "5", "--max-in-flight", "10000000"], "--max-in-flight: 10000000 connections"),
        (LOAD, ["--workers", "100000"], "100000 generator processes on"),
        (LOAD, ["-d", "99999999"], "must be at most 86400 s, got '99999999'"),
        (LOAD, ["--warmup", "2000000"], "must be at most 86400 s"),
        (LOAD, ["--timeout", "86401"], "must be at most 86400 s"),
        (LOAD, ["-n", "100000000000"], "is not in the range 1<=x<=10000000"),
        (LOAD, ["--sim-tokens", "1000000000"], "is not in the range 1<=x<=1000000"),
        (STRATEGIES, ["--calls", "1000"], "give --width of at most 256"),
        (STRATEGIES, ["--calls", "100000"], "is not in the range 1<=x<=10000"),
        (STRATEGIES, ["--width", "100000"], "is not in the range 1<=x<=256"),
        (STRATEGIES, ["--latency", "61"], "must be at most 60 s"),
        (
            STRATEGIES,
            ["--agent-steps", "inf"],
            "every step must be > 0 and at most 3600 s, got inf",
        ),
        (STRATEGIES, ["--agent-steps", "1,nan"], "must be > 0 and at most 3600 s, got nan"),
        (STRATEGIES, ["--agent-steps", "1,x"], "'x' is not a number of seconds"),
        (STRATEGIES, ["--agent-steps", ",".join(["1"] * 40)], "at most 32 steps, got 40"),
        (DEMO, ["-c", "inf"], "every level must be a finite number, got inf"),
        (DEMO, ["-c", "1000000"], "1000000 connections need as many local ports"),
        (DEMO, ["--calls", "1000"], "is not in the range 1<=x<=256"),
        (DEMO, ["-d", "99999999"], "must be at most 86400 s"),
    ],
)
def test_what_this_machine_cannot_do_is_refused(
    command: list[str], args: list[str], message: str
) -> None:
    assert message in _refused(*command, *args)


def test_the_open_files_limit_bounds_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_checks, "_socket_limit", lambda: 100)
    line = _refused("bench", "load", "-c", "50,101")
    assert "101 connections need a socket each" in line
    assert "the embedded simulator serves them all from one process" in line
    assert "may open 100 (the open-files limit, ulimit -Hn, less 256)" in line
    line = _refused("demo", "-c", "101")
    assert "101 connections need a socket each" in line


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "load"],
        ["bench", "load", "http://127.0.0.1:9/v1"],
        ["bench", "strategies"],
        ["demo"],
    ],
)
def test_an_unwritable_report_folder_is_refused_before_the_run(
    tmp_path: Path, command: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = _refused(*command, "-o", str(blocker / "report"))
    assert f"Invalid value for '-o' / '--out': cannot write the report to '{blocker}" in line
    assert "Not a directory" in line


def test_an_unwritable_folder_is_reported_before_anything_else_is_done(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = _run("bench", "load", "-c", "2", "-o", str(blocker / "report"))
    assert result.exit_code == 2
    assert "sluice bench load:" not in result.output  # the run did not begin
    assert "Level" not in result.output


def test_connections_fit_local_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ports = tmp_path / "ip_local_port_range"
    ports.write_text("40000\t40099\n")
    monkeypatch.setattr(_checks, "_PORT_RANGE", ports)
    monkeypatch.setattr(_checks, "_socket_limit", lambda: None)
    check_connections(100, processes=1, embedded=False, hint="-c")
    with pytest.raises(click.BadParameter, match="101 connections need as many local ports, "):
        check_connections(101, processes=4, embedded=False, hint="-c")
    monkeypatch.setattr(_checks, "_PORT_RANGE", tmp_path / "missing")
    check_connections(16_384, processes=1, embedded=False, hint="-c")  # the IANA range
    with pytest.raises(click.BadParameter, match="has 16384 for"):
        check_connections(16_385, processes=1, embedded=False, hint="-c")


def test_connections_fit_each_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_checks, "_socket_limit", lambda: 100)
    check_connections(200, processes=2, embedded=False, hint="-c")  # 100 per generator
    with pytest.raises(click.BadParameter, match="101 per generator process"):
        check_connections(201, processes=2, embedded=False, hint="-c")
    with pytest.raises(click.BadParameter, match="serves them all from one process"):
        check_connections(200, processes=2, embedded=True, hint="-c")


def test_rates_and_workers_are_bounded_by_the_generator() -> None:
    check_rate(2 * RATE_PER_PROCESS, processes=2)
    with pytest.raises(click.BadParameter, match=r"at most 50000 per generator process"):
        check_rate(2 * RATE_PER_PROCESS + 1, processes=2)
    cpus = usable_cpus()
    assert check_workers(0) == cpus
    assert check_workers(cpus) == cpus
    with pytest.raises(click.BadParameter, match=f"give at most {cpus}"):
        check_workers(cpus + 1)


def test_the_report_folder_is_created_and_left_clean(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "report"
    check_report_folder(folder)
    assert folder.is_dir()
    assert list(folder.iterdir()) == []
