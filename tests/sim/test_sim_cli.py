"""``sluice sim`` in-process with CliRunner, and SimProcess with a real child process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from sluice.cli._app import cli
from sluice.sim import SimConfig, SimProcess
from sluice.sim._command import DEFAULTS


def test_help_documents_every_flag() -> None:
    result = CliRunner().invoke(cli, ["sim", "--help"])
    assert result.exit_code == 0
    flags = set(re.findall(r"--[a-z][a-z-]+", result.output))
    expected = {
        "--host",
        "--port",
        "--config",
        "--ttft",
        "--prefill-per-token",
        "--itl",
        "--jitter",
        "--jitter-cv",
        "--load-factor",
        "--load-batch",
        "--max-concurrency",
        "--max-queue",
        "--overflow-status",
        "--retry-after",
        "--rpm",
        "--tpm",
        "--error-rate",
        "--fault",
        "--max-hang",
        "--slow-itl",
        "--output-tokens",
        "--tokens-per-chunk",
        "--context-length",
        "--embedding-dim",
        "--model",
        "--seed",
        "--max-body-bytes",
        "--max-header-bytes",
        "--max-embedding-values",
        "--header-timeout",
        "--body-timeout",
        "--log-level",
        "--access-log",
        "--watch-stdin",
    }
    assert expected <= flags
    # Every config field has its flag.
    fields = {"--" + name.replace("_", "-") for name in SimConfig.__dataclass_fields__}
    assert fields - {"--faults", "--models"} <= flags


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ttft", "-1"], "sim config: ttft must be >= 0, got -1\n"),
        (["--itl", "fast"], "sim config: itl must be a duration like"),
        (["--max-concurrency", "-3"], "sim config: max_concurrency must be an integer >= 0"),
        (["--error-rate", "1.5"], "sim config: error_rate must be a probability"),
        (["--fault", "boom=0.1"], "sim config: faults must be keyed by one of"),
        (["--fault", "429"], "expected NAME=PROBABILITY"),
        (["--jitter", "gamma"], "Invalid value for '--jitter'"),
        (["--port", "-1"], "Invalid value for '--port': -1 is not in the range 0<=x<=65535"),
        (["--port", "99999"], "Invalid value for '--port': 99999 is not in the range"),
        (["--port", "http"], "Invalid value for '--port': 'http' is not a valid integer"),
        (["--output-tokens", "1000000000"], "sim config: output_tokens must be an integer"),
        (["--max-body-bytes", "5"], "sim config: max_body_bytes must be an integer >= 1024"),
        (["--header-timeout", "0"], "sim config: header_timeout must be > 0, got 0"),
        (["--body-timeout", "forever"], "sim config: body_timeout must be a duration like"),
        (["--max-embedding-values", "-1"], "sim config: max_embedding_values must be"),
        (["--load-factor", "inf"], "sim config: load_factor must be a number >= 1, got inf"),
    ],
)
def test_bad_flags_exit_with_code_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["sim", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_bad_config_file_exits_with_code_2(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text("ttft = -1\n")
    result = CliRunner().invoke(cli, ["sim", "--config", str(path)])
    assert result.exit_code == 2
    assert "sim config: ttft must be >= 0, got -1" in result.output
    path.write_text("speed = 3\n")
    result = CliRunner().invoke(cli, ["sim", "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown field 'speed'" in result.output


def test_a_config_file_that_is_not_utf8_exits_with_code_2(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_bytes(b"\xff\xfe t\x00t\x00f\x00t\x00")
    result = CliRunner().invoke(cli, ["sim", "--config", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "sim.toml' is not UTF-8 text (byte 0); save it as UTF-8" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("host", ["bad\x00host", "127.0.0.1\x00"])
def test_an_address_that_cannot_be_bound_exits_with_code_1(host: str) -> None:
    result = CliRunner().invoke(cli, ["sim", "--host", host, "--port", "0"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Error: cannot serve on" in result.output
    assert "invalid address" in result.output


@pytest.mark.realtime
def test_sim_process_starts_serves_and_stops(tmp_path: Path) -> None:
    config_file = tmp_path / "sim.toml"
    config_file.write_text('output_tokens = 3\n[faults]\n"503" = 0.0\n')
    with SimProcess(["--config", str(config_file), "--rpm", "50"]) as sim:
        pid = sim.pid
        assert sim.port > 0
        assert sim.base_url == f"http://127.0.0.1:{sim.port}/v1"
        request = urllib.request.Request(
            sim.base_url + "/chat/completions",
            data=json.dumps(
                {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={"content-type": "application/json", "authorization": "Bearer sk-a"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
            assert response.headers["x-ratelimit-limit-requests"] == "50"
        assert body["usage"]["completion_tokens"] == 3
        assert sim.metrics().status_count(200) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: no such process any more


@pytest.mark.realtime
def test_sim_process_reports_a_failed_start() -> None:
    with pytest.raises(RuntimeError, match=r"exited before serving \(exit code 2\)") as info:
        SimProcess(["--ttft", "-1"]).start()
    assert "ttft" in str(info.value)


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie awaiting its reaper does not count)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.realtime
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_sim_process_child_follows_a_killed_parent() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time, sluice.sim as s; p = s.SimProcess(); p.start(); "
            "print(p.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()  # no chance to clean up
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()


def test_help_defaults_match_the_config() -> None:
    defaults = SimConfig()
    for name, shown in DEFAULTS.items():
        value = getattr(defaults, name)
        if name == "models":
            assert shown == ", ".join(value)
        else:
            assert float(shown) == value if not isinstance(value, str) else shown == value, name
    assert set(DEFAULTS) == set(SimConfig.__dataclass_fields__) - {"faults"}


@pytest.mark.realtime
def test_bound_port_error_exits_cleanly() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["sim", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.output


def test_python_m_sluice_sim_is_the_same_command_without_the_cli_package() -> None:
    code = (
        "import runpy, sys; sys.argv = ['x', '--help']\n"
        "try:\n    runpy.run_module('sluice.sim', run_name='__main__')\n"
        "except SystemExit as exc:\n    print('exit', exc.code)\n"
        "print(sorted(m for m in sys.modules if m.startswith('sluice.cli')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m sluice.sim [OPTIONS]" in result.stdout
    assert "--max-concurrency" in result.stdout
    assert result.stdout.strip().endswith("exit 0\n[]")
