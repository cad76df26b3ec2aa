"""``sluice demo`` run in-process."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sluice.cli._app import cli


@pytest.mark.realtime
def test_demo_prints_every_section() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    for heading in ("1. Blocking calls", "2. Rate-limited fan-out", "3. A flaky upstream"):
        assert heading in result.output
    assert "they overlapped" in result.output


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output
    assert "sim" in result.output
