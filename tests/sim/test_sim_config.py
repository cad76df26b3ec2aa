"""SimConfig: validation messages name the field; TOML loading; flags override the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sluice import ConfigError
from sluice.sim import SimConfig, load_config
from sluice.sim._config import parse_duration


def test_defaults_are_valid_and_unlimited() -> None:
    config = SimConfig()
    assert config.ttft == 0.0
    assert config.max_concurrency == 0
    assert config.rpm == 0
    assert config.fault_probabilities() == {}


def test_negative_ttft_names_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        SimConfig(ttft=-1)
    assert str(info.value) == "sim config: ttft must be >= 0, got -1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"itl": float("nan")}, "sim config: itl must be a number >= 0, got nan"),
        ({"itl": True}, "sim config: itl must be a number >= 0, got True"),
        ({"max_hang": 0}, "sim config: max_hang must be > 0, got 0"),
        ({"load_factor": 0.5}, "sim config: load_factor must be >= 1, got 0.5"),
        ({"max_concurrency": -2}, "sim config: max_concurrency must be an integer >= 0, got -2"),
        ({"rpm": 1.5}, "sim config: rpm must be an integer >= 0, got 1.5"),
        (
            {"output_tokens": 0},
            "sim config: output_tokens must be an integer >= 1 and <= 1000000, got 0",
        ),
        (
            {"embedding_dim": 9000},
            "sim config: embedding_dim must be an integer >= 1 and <= 8192, got 9000",
        ),
        ({"jitter": "gamma"}, "sim config: jitter must be one of constant, normal, lognormal"),
        ({"overflow_status": 500}, "sim config: overflow_status must be 429 or 503, got 500"),
        ({"error_rate": 2}, "sim config: error_rate must be a probability in [0, 1], got 2"),
        ({"faults": {"boom": 0.1}}, "sim config: faults must be keyed by one of 400, 429"),
        ({"faults": {"hang": -0.1}}, "sim config: faults.hang must be a probability"),
        ({"faults": {"500": 0.6}, "error_rate": 0.6}, "sim config: faults must be probabilities"),
        ({"models": ()}, "sim config: models must be a non-empty list of model names"),
        ({"load_factor": 2.0}, "sim config: load_batch must be > 0 when load_factor is set"),
        # Bounded, so that no setting makes the server allocate or wait without limit.
        ({"ttft": 90_000}, "sim config: ttft must be <= 86400, got 90000"),
        ({"max_hang": "2d"}, "sim config: max_hang must be a number > 0, got '2d'"),
        ({"jitter_cv": 1e6}, "sim config: jitter_cv must be <= 10, got 1000000.0"),
        ({"load_factor": 2000.0}, "sim config: load_factor must be <= 1000, got 2000.0"),
        (
            {"output_tokens": 10**9},
            "sim config: output_tokens must be an integer >= 1 and <= 1000000, got 1000000000",
        ),
        (
            {"context_length": 10**12},
            "sim config: context_length must be an integer >= 1 and <= 10000000",
        ),
        ({"seed": 2**64}, "sim config: seed must be an integer >= 0 and <= 18446744073709551615"),
        ({"max_body_bytes": 100}, "sim config: max_body_bytes must be an integer >= 1024"),
        ({"max_body_bytes": 2**40}, "sim config: max_body_bytes must be an integer >= 1024"),
        ({"max_header_bytes": 0}, "sim config: max_header_bytes must be an integer >= 1024"),
        ({"header_timeout": 0}, "sim config: header_timeout must be > 0, got 0"),
        ({"body_timeout": float("inf")}, "sim config: body_timeout must be a number > 0"),
        (
            {"max_embedding_values": 2048 * 8192 + 1},
            "sim config: max_embedding_values must be an integer >= 1 and <= 16777216",
        ),
        (
            {"max_embedding_values": 100, "embedding_dim": 256},
            "sim config: max_embedding_values must be >= embedding_dim (256), so that one "
            "input fits, got 100",
        ),
    ],
)
def test_invalid_values_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ttft"):
        SimConfig(ttft=-0.5)


def test_error_rate_folds_into_500() -> None:
    config = SimConfig(error_rate=0.1, faults={"500": 0.05, "hang": 0.01})
    assert config.fault_probabilities() == pytest.approx({"500": 0.15, "hang": 0.01})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0.25, 0.25), (2, 2.0), ("20ms", 0.02), ("1.5s", 1.5), ("2m", 120.0), ("500us", 5e-4)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration("itl", value) == pytest.approx(seconds)


def test_bad_duration_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^sim config: itl must be a duration like"):
        parse_duration("itl", "fast")


def test_from_mapping_parses_durations_and_rejects_unknown_keys() -> None:
    config = SimConfig.from_mapping({"ttft": "200ms", "max-concurrency": 8, "models": ["a"]})
    assert config.ttft == pytest.approx(0.2)
    assert config.max_concurrency == 8
    assert config.models == ("a",)
    with pytest.raises(ConfigError, match=r"unknown field 'tttf'"):
        SimConfig.from_mapping({"tttf": 1})


def test_toml_file_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(
        'ttft = "50ms"\nitl = 0.01\nrpm = 60\nseed = 3\n[faults]\n"429" = 0.1\nhang = 0.01\n'
    )
    config = load_config(path, {"rpm": 120, "faults": {"hang": 0.0}})
    assert config.ttft == pytest.approx(0.05)
    assert config.rpm == 120  # the flag wins
    assert config.seed == 3
    assert dict(config.faults) == {"429": 0.1, "hang": 0.0}


def test_toml_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("ttft = = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    invalid = tmp_path / "invalid.toml"
    invalid.write_text("ttft = -1\n")
    with pytest.raises(ConfigError, match=r"^sim config: ttft must be >= 0, got -1$"):
        load_config(invalid)


def test_request_limits_have_defaults_for_real_traffic() -> None:
    config = SimConfig()
    assert config.max_body_bytes == 16 * 1024 * 1024
    assert config.max_header_bytes == 64 * 1024
    assert config.max_embedding_values == 2048 * 512  # every input OpenAI allows, 512 dims
    assert (config.header_timeout, config.body_timeout) == (10.0, 60.0)
    parsed = SimConfig.from_mapping({"header-timeout": "500ms", "body_timeout": "2m"})
    assert (parsed.header_timeout, parsed.body_timeout) == (0.5, 120.0)


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('models = ["caf\u00e9"]\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.toml' is not UTF-8 text \(byte 14\)"):
        load_config(path)


def test_to_args_round_trips_through_the_cli_names() -> None:
    config = SimConfig(ttft=0.2, max_concurrency=4, faults={"429": 0.5}, models=("x", "y"))
    args = config.to_args()
    assert args == [
        "--ttft",
        "0.2",
        "--max-concurrency",
        "4",
        "--fault",
        "429=0.5",
        "--model",
        "x",
        "--model",
        "y",
    ]
