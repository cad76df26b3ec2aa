"""What load tools expect of the simulator: ``GET /health``, ``--fault`` comma lists, rate
buckets that hold ``burst`` seconds of budget, and vLLM's ``continuous_usage_stats``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from sluice import ConfigError
from sluice.cli._app import cli
from sluice.sim import SimConfig, load_config
from sluice.sim._limits import KeyRateBuckets

from .test_sim_app import call, chat, make_app


async def test_health_is_served_beside_healthz() -> None:
    app = make_app()
    for path in ("/health", "/healthz"):
        reply = await call(app, path)
        assert (reply.status, reply.json()) == (200, {"status": "ok"})
    assert (await call(app, "/health", {})).status == 405  # a probe is a GET
    assert app.snapshot().requests.get(("/health", 200)) is None  # probes are not traffic


# ------------------------------------------------------------------ --fault lists


def served_config(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, SimConfig]:
    """Run ``sluice sim ARGS`` in-process; the config it would serve (not served)."""
    seen: list[SimConfig] = []
    monkeypatch.setattr(
        "sluice.sim._command.serve_forever", lambda config, *a, **k: seen.append(config)
    )
    result = CliRunner().invoke(cli, ["sim", "--port", "0", *args])
    return result.exit_code, result.output, (seen[0] if seen else SimConfig())


def test_fault_takes_comma_lists_and_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    code, output, config = served_config(
        monkeypatch, "--fault", "429=0.05,500=0.02", "--fault", " hang = 0.01 ,"
    )
    assert code == 0, output
    assert dict(config.faults) == {"429": 0.05, "500": 0.02, "hang": 0.01}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("429=0.05,500", "expected NAME=PROBABILITY (e.g. 429=0.05), got '500' in '429=0.05,500'"),
        ("429=0.05,=0.1", "got '=0.1' in '429=0.05,=0.1'"),
        ("429=lots", "got '429=lots'"),
        ("429=0.05,boom=0.1", "sim config: faults must be keyed by one of 400, 429"),
        ("429=0.7,500=0.6", "sim config: faults must be probabilities (with error_rate) summing"),
    ],
)
def test_a_bad_fault_item_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    code, output, _ = served_config(monkeypatch, "--fault", value)
    assert code == 2
    assert message in output


# ------------------------------------------------------------------ burst


def test_burst_is_a_duration_with_a_one_second_default(tmp_path: Any) -> None:
    assert SimConfig().burst == 1.0
    path = tmp_path / "sim.toml"
    path.write_text('rpm = 600\nburst = "60s"\n')
    assert load_config(path).burst == 60.0
    assert SimConfig.from_mapping({"burst": "250ms"}).burst == pytest.approx(0.25)
    with pytest.raises(ConfigError, match=r"^sim config: burst must be > 0, got 0$"):
        SimConfig(burst=0)
    assert SimConfig(burst=60.0).to_args() == ["--burst", "60.0"]


def test_flag_sets_the_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    code, output, config = served_config(monkeypatch, "--rpm", "600", "--burst", "2m")
    assert code == 0, output
    assert (config.rpm, config.burst) == (600, 120.0)


def test_one_second_buckets_pass_a_second_of_budget_then_pace() -> None:
    buckets = KeyRateBuckets(rpm=600, tpm=0, burst=1.0)
    admitted = sum(buckets.acquire("k", 1, now=0.0).allowed for _ in range(50))
    assert admitted == 10  # 600 per minute is 10 per second
    refused = buckets.acquire("k", 1, now=0.0)
    assert refused.retry_after == pytest.approx(0.1)
    headers = dict(refused.headers())
    assert headers[b"x-ratelimit-limit-requests"] == b"600"  # the per-minute limit, as providers
    assert headers[b"x-ratelimit-reset-requests"] == b"1s"  # until the bucket is full again
    assert buckets.acquire("k", 1, now=0.1).allowed
    assert not buckets.acquire("k", 1, now=0.1).allowed


def test_a_slow_rate_still_admits_one_request_and_tokens_burst_too() -> None:
    slow = KeyRateBuckets(rpm=2, tpm=0, burst=1.0)
    assert slow.acquire("k", 1, now=0.0).allowed
    refused = slow.acquire("k", 1, now=0.0)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(30.0)
    tokens = KeyRateBuckets(rpm=0, tpm=6000, burst=1.0)  # 100 tokens a second
    assert tokens.acquire("k", 80, now=0.0).allowed
    assert tokens.acquire("k", 30, now=0.0).limited_by == "tokens"
    assert tokens.acquire("k", 500, now=1.0).allowed  # more than the bucket: once it is full


async def test_the_app_applies_the_burst_and_sixty_seconds_is_the_old_behaviour() -> None:
    for burst, expected in ((1.0, 5), (60.0, 300)):
        app = make_app(rpm=300, burst=burst)
        statuses = [(await call(app, "/v1/chat/completions", chat())).status for _ in range(310)]
        assert statuses.count(200) == expected, burst
        assert set(statuses[expected:]) == {429}


# ------------------------------------------------------------------ continuous usage


def events(body: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:])
        for line in body.split(b"\n")
        if line.startswith(b"data: {")  # not [DONE]
    ]


async def test_continuous_usage_stats_put_usage_on_every_chunk() -> None:
    app = make_app(output_tokens=4, tokens_per_chunk=2)
    options = {"include_usage": True, "continuous_usage_stats": True}
    reply = await call(app, "/v1/chat/completions", chat(stream=True, stream_options=options))
    chunks = events(reply.body)
    completion = [chunk["usage"]["completion_tokens"] for chunk in chunks]
    assert completion == [0, 2, 4, 4, 4]  # opening, two content chunks, finish, final usage
    assert {chunk["usage"]["prompt_tokens"] for chunk in chunks} == {7}
    assert all(
        u["total_tokens"] == 7 + c
        for u, c in ((k["usage"], k["usage"]["completion_tokens"]) for k in chunks)
    )
    assert chunks[-1]["choices"] == []


async def test_continuous_usage_stats_need_include_usage_as_in_vllm() -> None:
    app = make_app(output_tokens=3)
    options = {"continuous_usage_stats": True}
    reply = await call(
        app,
        "/v1/completions",
        {"model": "m", "prompt": "x", "stream": True, "stream_options": options},
    )
    assert reply.status == 200
    assert not any("usage" in chunk for chunk in events(reply.body))
    bad = {"include_usage": True, "continuous_usage_stats": "yes"}
    refused = await call(app, "/v1/chat/completions", chat(stream=True, stream_options=bad))
    assert refused.status == 400
    assert "continuous_usage_stats must be a boolean" in refused.json()["error"]["message"]  # type: ignore[index]


async def test_text_completion_streams_carry_continuous_usage_too() -> None:
    app = make_app(output_tokens=3)
    options = {"include_usage": True, "continuous_usage_stats": True}
    body = {"model": "m", "prompt": "x", "stream": True, "stream_options": options}
    chunks = events((await call(app, "/v1/completions", body)).body)
    assert [chunk["usage"]["completion_tokens"] for chunk in chunks] == [1, 2, 3, 3, 3]
