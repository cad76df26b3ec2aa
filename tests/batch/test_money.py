"""--max-cost, --dry-run and the progress gauges, against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import sluice
import sluice.batch
from sluice.batch import Progress
from sluice.cli._app import cli
from sluice.sim import SimConfig, SimMetrics, SimProcess, SimServer

from .files import output_ids, write_chat_input

pytestmark = pytest.mark.realtime

# USD per 1M tokens: a thousandth of a dollar a prompt token, two a completion token.
PRICES = {"sim-model": {"input": 1000.0, "output": 2000.0}}


def sim_cost(metrics: SimMetrics) -> float:
    """What the simulator's usage counters cost at PRICES."""
    price = PRICES["sim-model"]
    return (
        metrics.prompt_tokens * price["input"] + metrics.completion_tokens * price["output"]
    ) / 1e6


async def test_the_cap_stops_new_requests_and_says_what_was_spent(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 80)
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig(ttft=0.01)) as sim:
        first = await sluice.batch.run(
            source, out, base_url=sim.base_url, concurrency=4, max_cost=0.3, prices=PRICES
        )
        metrics = sim.metrics()
        assert first.stopped is not None
        assert first.stopped.startswith("max cost")
        assert 0 < metrics.total_requests == first.sent == first.done < 80
        assert first.spent_usd == pytest.approx(sim_cost(metrics))
        assert first.spent_usd <= 0.3
        per_request = sim_cost(metrics) / first.sent
        assert first.spent_usd > 0.3 - 2 * per_request  # stopped near the cap, not far before
        assert f"spent ${first.spent_usd:.4f}" in first.summary()
        assert not first.succeeded

        # The next run, with room for the rest, sends only what is left.
        rest = await sluice.batch.run(
            source, out, base_url=sim.base_url, max_cost=10.0, prices=PRICES
        )
        assert rest.stopped is None
        assert rest.sent == 80 - first.sent
        assert sim.metrics().total_requests == 80
        assert rest.spent_usd == pytest.approx(sim_cost(sim.metrics()) - first.spent_usd)
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == 80


async def test_a_model_without_a_price_is_refused_before_sending(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 5)
    async with SimServer(SimConfig()) as sim:
        with pytest.raises(sluice.ConfigError, match=r"none for 'sim-model'.*--prices"):
            await sluice.batch.run(source, tmp_path / "out.jsonl", base_url=sim.base_url,
                                   max_cost=1.0)  # fmt: skip
        assert sim.metrics().total_requests == 0
        # Without a cap the run goes on; it only cannot say what it spent.
        result = await sluice.batch.run(source, tmp_path / "out.jsonl", base_url=sim.base_url)
        assert result.succeeded
        assert result.spent_usd is None


async def test_a_dry_run_sends_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    async with SimServer(SimConfig()) as sim:
        # An earlier run answered q0..q9; the input then grew to q0..q29, whose bodies repeat
        # those of q0..q9 (q10 asks what q0 asked), plus one line that sets no max_tokens.
        await sluice.batch.run(write_chat_input(tmp_path / "in.jsonl", 10), out,
                               base_url=sim.base_url)  # fmt: skip
        source = write_chat_input(tmp_path / "in.jsonl", 30, distinct=10)
        with open(source, "a") as file:
            body = {"model": "sim-model", "messages": [{"role": "user", "content": "free"}]}
            file.write(json.dumps(body) + "\n{not json\n")
        before = out.read_bytes()
        sent = sim.metrics().total_requests
        dry = await sluice.batch.run(source, out, base_url=sim.base_url, dry_run=True,
                                     prices=PRICES)  # fmt: skip
        assert sim.metrics().total_requests == sent == 10
        assert out.read_bytes() == before
        assert not dry.failed_path.exists() or dry.failed_path.read_text() == ""
        estimate = dry.estimate
        assert estimate is not None
        assert (estimate.requests, estimate.deduplicated) == (11, 10)
        assert (estimate.malformed, estimate.skipped_already_done) == (1, 10)
        assert estimate.output_tokens == 4 * 10  # max_tokens 4 on every chat line
        assert estimate.unbounded == 1
        assert estimate.input_tokens > 0
        assert estimate.cost_low == pytest.approx(estimate.input_tokens * 1000 / 1e6)
        assert estimate.cost_high == pytest.approx(
            estimate.cost_low + (40 + sluice.batch.DEFAULT_OUTPUT_TOKENS) * 2000 / 1e6
        )
        assert "would send 11 requests" in dry.summary()

        real = await sluice.batch.run(source, out, base_url=sim.base_url)
        assert real.sent == sim.metrics().total_requests - sent == estimate.requests
        assert real.deduplicated == estimate.deduplicated


async def test_a_dry_run_of_a_new_output_leaves_no_file(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "fresh" / "out.jsonl"
    out.parent.mkdir()
    dry = await sluice.batch.run(source, out, base_url="http://127.0.0.1:9/v1", dry_run=True)
    assert list(out.parent.iterdir()) == []
    assert dry.estimate is not None
    assert dry.estimate.cost_low is None  # sim-model has no built-in price
    assert "no price for 'sim-model'" in dry.summary()


async def test_progress_reports_tokens_money_eta_and_limits(tmp_path: Path) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 40)
    seen: list[Progress] = []
    async with SimServer(SimConfig(ttft=0.02)) as sim:
        await sluice.batch.run(source, tmp_path / "out.jsonl", base_url=sim.base_url,
                               rpm=1200, prices=PRICES, progress=seen.append,
                               progress_every=0.01)  # fmt: skip
        metrics = sim.metrics()
    last = seen[-1]
    assert last.total == 40
    assert last.done == 40
    assert last.spent_usd == pytest.approx(sim_cost(metrics))
    assert last.projected_usd == pytest.approx(last.spent_usd)  # nothing remains
    assert last.eta_seconds == 0
    assert last.tokens_per_minute > 0
    assert "rpm 1200" in last.limits
    assert "concurrency" in last.limits
    middle = [p for p in seen if 0 < p.done < 40]
    assert middle, "no progress was reported while the run went"
    assert all(p.eta_seconds is None or p.eta_seconds > 0 for p in middle)
    assert all(p.projected_usd is None or p.projected_usd >= p.spent_usd for p in middle)  # type: ignore[operator]
    assert "tok/min" in last.line()
    assert f"${last.spent_usd:.4f}" in last.line()


def test_the_command_takes_max_cost_prices_and_dry_run(tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_chat_input(tmp_path / "in.jsonl", 30)
    prices = tmp_path / "prices.toml"
    prices.write_text("[sim-model]\ninput = 1000\noutput = 2000\n")
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig()) as sim:
        args = ["run", str(source), "--base-url", sim.base_url, "--output", str(out)]
        dry = runner.invoke(cli, [*args, "--dry-run", "--prices", str(prices)])
        assert dry.exit_code == 0, dry.output
        assert "would send 30 requests" in dry.output
        assert sim.metrics().total_requests == 0

        unpriced = runner.invoke(cli, [*args, "--max-cost", "1"])
        assert unpriced.exit_code == 2
        assert "sim-model" in unpriced.output
        assert "--prices" in unpriced.output

        capped = runner.invoke(cli, [*args, "--max-cost", "0.1", "--prices", str(prices),
                                     "--concurrency", "2"])  # fmt: skip
        assert capped.exit_code == 1
        assert "stopped early: max cost" in capped.output
        assert 0 < sim.metrics().total_requests < 30

        bad = tmp_path / "bad.json"
        bad.write_text('{"sim-model": {"input": -1}}')
        refused = runner.invoke(cli, [*args, "--max-cost", "1", "--prices", str(bad)])
        assert refused.exit_code == 2
        assert "'sim-model' input must be a finite number >= 0" in refused.output
