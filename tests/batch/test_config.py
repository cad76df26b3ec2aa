"""``sluice run --config FILE``: settings from TOML, the command line winning, the key kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import sluice.cli.batch
from sluice.batch import BatchResult
from sluice.cli._app import cli
from sluice.cli._batch_config import ConfigFileError, load_config
from sluice.sim import SimConfig, SimProcess

from .files import output_ids, write_chat_input

KEY = "sk-file-0123456789abcdef"


def _file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """What the command hands to sluice.batch.run, nothing sent."""
    seen: list[dict[str, Any]] = []

    async def fake_run(input: Path, output: Path, **options: Any) -> BatchResult:
        seen.append({"output": output, **options})
        counts = dict.fromkeys(
            ("lines", "sent", "not_sent", "done", "failed", "malformed",
             "skipped_already_done", "deduplicated", "repeated_lines"), 0
        )  # fmt: skip
        return BatchResult(output=output, failed_path=tmp_path / "f", journal_path=tmp_path / "j",
                           stopped=None, elapsed=0.0, **counts)  # fmt: skip

    monkeypatch.setattr(sluice.cli.batch, "run_batch", fake_run)
    return seen


def test_the_file_sets_defaults_and_flags_win(
    tmp_path: Path, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_KEY", "sk-env")
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    config = _file(
        tmp_path / "run.toml",
        f'base_url = "http://file/v1"\noutput = "{tmp_path / "a.jsonl"}"\nrpm = 500\n'
        f'concurrency = 8\ndedup = false\nordered = true\nordered_hold = 99\nmax_failures = "5%"\n'
        f'api_key = "{KEY}"\n',
    )
    runner = CliRunner()
    plain = runner.invoke(cli, ["run", str(source), "--config", str(config), "--no-panel"])
    assert plain.exit_code == 0, plain.output
    assert KEY not in plain.output
    first = calls[-1]
    assert first["base_url"] == "http://file/v1"
    assert first["output"] == tmp_path / "a.jsonl"
    assert (first["rpm"], first["concurrency"], first["max_failures"]) == (500.0, 8, "5%")
    assert (first["dedup"], first["ordered"], first["api_key"]) == (False, True, KEY)
    assert first["ordered_hold"] == 99

    args = ["run", str(source), "--config", str(config), "--rpm", "60", "-o",
            str(tmp_path / "b.jsonl"), "--api-key-env", "OTHER_KEY"]  # fmt: skip
    flags = runner.invoke(cli, args)
    assert flags.exit_code == 0, flags.output
    second = calls[-1]
    assert (second["rpm"], second["output"]) == (60.0, tmp_path / "b.jsonl")
    assert second["api_key"] == "sk-env"  # --api-key-env given here wins over the file's key
    assert second["base_url"] == "http://file/v1"


def test_api_key_env_in_the_file(
    tmp_path: Path, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-named")
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    config = _file(tmp_path / "run.toml", 'base_url = "http://x/v1"\napi_key_env = "MY_KEY"\n')
    args = ["run", str(source), "--config", str(config), "-o", str(tmp_path / "o.jsonl")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert calls[-1]["api_key"] == "sk-named"


def test_a_readable_key_file_is_warned_about(tmp_path: Path, calls: list[dict[str, Any]]) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    config = _file(tmp_path / "run.toml", f'base_url = "http://x/v1"\napi_key = "{KEY}"\n', 0o644)
    result = CliRunner().invoke(
        cli, ["run", str(source), "--config", str(config), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert f"chmod 600 {config}" in result.output
    assert KEY not in result.output
    quiet = _file(tmp_path / "ok.toml", 'base_url = "http://x/v1"\n', 0o644)  # no key: no warning
    assert load_config(quiet).warnings == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('base_url = "u"\nrmp = 5\n', "unknown key 'rmp'"),
        ("rpm = -1\n", "rpm must be a number > 0, got -1"),
        ('concurrency = "lots"\n', "concurrency must be an integer >= 1 or 'auto'"),
        ('ordered = "yes"\n', "ordered must be true or false"),
        ("api_key = 5\n", "api_key must be a non-empty string"),
        ('api_key = "k"\napi_key_env = "K"\n', "both api_key and api_key_env"),
        ("base_url = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = _file(tmp_path / "run.toml", text)
    with pytest.raises(ConfigFileError, match=message):
        load_config(config)


def test_a_bad_file_is_a_usage_error(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 1)
    config = _file(tmp_path / "run.toml", 'base_url = "u"\nwindow_size = 3\n')
    result = CliRunner().invoke(
        cli, ["run", str(source), "--config", str(config), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "unknown key 'window_size'" in result.output


@pytest.mark.realtime
def test_a_run_from_a_config_file(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig()) as sim:
        text = f'base_url = "{sim.base_url}"\noutput = "{out}"\nordered = true\n'
        config = _file(tmp_path / "run.toml", text + f'api_key = "{KEY}"\n')
        result = CliRunner().invoke(cli, ["run", str(source), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert output_ids(out) == [f"q{i}" for i in range(6)]
    assert KEY not in result.output
