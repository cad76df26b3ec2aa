"""``sluice bench load`` and ``sluice bench strategies`` end to end, with small numbers."""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sluice.cli._app import cli
from tests.tcp import serving

SMALL = ["-d", "0.4", "--warmup", "0.1", "--sim-ttft", "10ms", "--sim-itl", "1ms"]


def _bench(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["bench", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["notaurl"], "is not an http:// or https:// URL"),
        (["http://"], "has no host"),
        (["-c", "0,10"], "every level must be > 0, got 0"),
        (["-r", "-5"], "every level must be > 0, got -5"),
        (["-c", "abc"], "is not a number"),
        (["-c", "2.5"], "whole numbers"),
        (["-c", "5", "-r", "5"], "not both"),
        (["-d", "0"], "must be > 0"),
        (["--slo", "ttft=1"], "need --stream"),
        (["--slo", "speed=1"], "SLO items"),
        (["http://127.0.0.1:1/", "--stream"], "needs the chat API"),
        (["-H", "no-colon"], "is not 'Name: value'"),
    ],
)
def test_bad_input_is_a_usage_error(args: list[str], message: str) -> None:
    code, output = _bench("load", *args)
    assert code == 2
    assert message in output


def test_help_documents_every_option() -> None:
    for command in (["bench", "load"], ["bench", "strategies"], ["demo"]):
        result = CliRunner().invoke(cli, [*command, "--help"])
        assert result.exit_code == 0
        params = cli
        for name in command:
            params = params.commands[name]  # type: ignore[attr-defined]
        for param in params.params:  # type: ignore[attr-defined]
            if param.param_type_name == "option":
                assert param.help, f"{command} {param.opts} has no help"


@pytest.mark.realtime
def test_unreachable_target_says_so_and_writes_a_report(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, output = _bench("load", f"http://127.0.0.1:{port}/v1", "-c", "2", "-o", str(tmp_path))
    assert code == 1
    assert "cannot connect to" in output
    data = json.loads((tmp_path / "load.json").read_text())
    assert "cannot connect" in data["error"]
    assert data["levels"] == []
    assert (tmp_path / "index.html").is_file()


class _PlainText(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while self.request.recv(65536):
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """An HTTP server answering every request with a plain-text 200 (not an API)."""
    with serving(_PlainText) as port:
        yield port


@pytest.mark.realtime
def test_garbage_from_a_chat_endpoint_is_reported(garbage_server: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{garbage_server}/v1"
    code, output = _bench("load", url, "-c", "2", "-o", str(tmp_path))
    assert code == 1
    assert "not with an OpenAI-compatible chat completion" in output
    # The same server is a fine plain HTTP target.
    code, output = _bench("load", url, "--api", "http", "-c", "2", *SMALL[:4], "-o", str(tmp_path))
    assert code == 0, output
    assert json.loads((tmp_path / "load.json").read_text())["levels"][0]["stats"]["successes"] > 0


@pytest.mark.realtime
def test_closed_sweep_against_the_embedded_simulator(tmp_path: Path) -> None:
    code, output = _bench("load", "-c", "2,4", *SMALL, "-o", str(tmp_path))
    assert code == 0, output
    assert "Load test, closed model" in output
    assert f"Report: {tmp_path / 'index.html'}" in output
    data = json.loads((tmp_path / "load.json").read_text())
    assert data["model"] == "closed"
    assert [level["level"] for level in data["levels"]] == [2, 4]
    for level in data["levels"]:
        assert level["stats"]["success_rate"] == 1.0
        assert level["stats"]["latency"]["p50"] >= 0.025  # ttft 10 ms + 15 tokens x 1 ms
    assert data["target"]["simulator"]
    for name in ("index.html", "load-latency.png", "load-throughput.png"):
        assert (tmp_path / name).is_file()


@pytest.mark.realtime
def test_open_streamed_sweep_through_the_sluice_client(tmp_path: Path) -> None:
    args = ["-r", "20,40", "--arrival", "poisson", "--stream", "--slo", "ttft=0.5,e2e=2"]
    args += ["--client", "sluice", "--sim-fault", "429=0.2"]
    code, output = _bench("load", *args, *SMALL, "-o", str(tmp_path))
    assert code == 0, output
    assert "Streaming" in output
    data = json.loads((tmp_path / "load.json").read_text())
    assert data["model"] == "open"
    assert data["arrival"] == "poisson"
    level = data["levels"][-1]
    assert level["schedule"]["target_rate"] == 40
    assert level["stats"]["stream"]["ttft"]["p50"] > 0
    assert level["stats"]["goodput"] >= 1
    # The simulator's faults are seeded: some of the ~25 requests measured got a 429.
    assert sum(lv["stats"]["failures"].get("429", 0) for lv in data["levels"]) >= 1
    assert (tmp_path / "load-stream.png").is_file()


@pytest.mark.realtime
def test_request_count_per_level(tmp_path: Path) -> None:
    code, output = _bench("load", "-c", "3", "-n", "12", *SMALL[2:], "-o", str(tmp_path))
    assert code == 0, output
    data = json.loads((tmp_path / "load.json").read_text())
    assert data["levels"][0]["stats"]["requests"] == 12


@pytest.mark.realtime
def test_strategies_quick(tmp_path: Path) -> None:
    code, output = _bench(
        "strategies", "--quick", "--calls", "3", "--agent-steps", "0.6,0.3", "-o", str(tmp_path)
    )
    assert code == 0, output
    data = json.loads((tmp_path / "strategies.json").read_text())
    rows = {row["name"]: row for row in data["strategies"]}
    assert list(rows) == [
        "sequential",
        "threads",
        "gather_blocking",
        "executor",
        "sluice",
        "processes",
        "shared",  # measured where redis-server is installed, else it says how to enable it
    ]
    shared = rows.pop("shared")
    assert shared["ok"] or "redis-server" in shared["explanation"]
    assert all(row["ok"] and row["peak_rss"] > 0 and row["explanation"] for row in rows.values())
    # Three calls of 0.1 s: blocking calls add up, even under asyncio.gather.
    assert rows["sequential"]["wall_s"] >= 0.3
    assert rows["gather_blocking"]["wall_s"] >= 0.3
    assert rows["sluice"]["wall_s"] < rows["sequential"]["wall_s"]
    assert rows["threads"]["wall_s"] < rows["sequential"]["wall_s"]
    agents = {row["name"]: row["wall_s"] for row in data["agents"]}
    assert agents["sequential"] >= 0.09  # 0.06 + 0.03 s
    assert agents["gate"] < agents["sequential"]
    assert (tmp_path / "strategies.png").is_file()
    assert "urllib.request" in output


@pytest.mark.realtime
def test_ctrl_c_writes_a_partial_report(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from sluice.cli import main; main()", "bench", "load"]
    command += ["-c", "2,3,4", "-d", "30", "--warmup", "0.1", "-o", str(tmp_path)]
    # Its own process group, signalled as a whole: what Ctrl-C in a terminal does.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, process_group=0
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        for line in process.stdout:  # wait until the first level is under way
            if line.startswith("Level 1/3") or time.monotonic() > deadline:
                break
        time.sleep(1.0)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 130, output
    assert "Interrupted" in output
    data = json.loads((tmp_path / "load.json").read_text())
    assert data["interrupted"]
    (level,) = data["levels"]
    assert level["interrupted"]
    assert level["stats"]["requests"] > 0
    assert level["stats"]["failures"] == {}  # the simulator kept serving through the Ctrl-C


@pytest.mark.realtime
def test_ctrl_c_during_the_strategies_keeps_the_rows_measured(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-c",
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from sluice.cli import main; main()",
        *["bench", "strategies", "--quick", "--calls", "3", "-o", str(tmp_path)],
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("  1. sequential"):
                break
        os.kill(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 130, output
    data = json.loads((tmp_path / "strategies.json").read_text())
    assert data["interrupted"]
    assert 1 <= len(data["strategies"]) < 6
    assert data["strategies"][0]["name"] == "sequential"


@pytest.mark.realtime
def test_a_level_where_everything_fails_ends_the_sweep(tmp_path: Path) -> None:
    code, output = _bench("load", "-c", "2,4", "--sim-fault", "500=1", *SMALL, "-o", str(tmp_path))
    assert code == 1
    assert "no request succeeded" in output
    data = json.loads((tmp_path / "load.json").read_text())
    (level,) = data["levels"]  # the second level was not run
    assert set(level["stats"]["failures"]) == {"5xx"}
    assert "HTTP 500" in level["stats"]["errors"]["5xx"]
    assert "remaining levels were not run" in data["stopped_early"]
