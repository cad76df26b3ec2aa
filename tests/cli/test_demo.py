"""``sluice demo`` run in-process, with small numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sluice.cli._app import cli


@pytest.mark.realtime
def test_demo_compares_strategies_load_tests_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["demo", "--calls", "3", "-c", "2,4", "-d", "0.3", "--no-policies", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    output = result.output
    for heading in ("1. The same 3 LLM calls, six ways", "2. Load test through the sluice client"):
        assert heading in output
    assert "5. sluice Gate + async client" in output
    assert "Load test, closed model" in output
    assert "3. The gate's policies" not in output
    lines = output.strip().splitlines()
    assert lines[-4].startswith(f"Report: {out / 'index.html'}")
    assert "real endpoint" in lines[-3]
    assert lines[-1].strip().startswith("sluice bench load https://")
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    load = json.loads((out / "load.json").read_text())
    assert load["command"] == "sluice demo"
    assert load["target"]["client"] == "sluice"
    assert all(level["stats"]["success_rate"] == 1.0 for level in load["levels"])


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("bench", "demo", "sim"):
        assert command in result.output
    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0
    assert "load" in result.output
    assert "strategies" in result.output
