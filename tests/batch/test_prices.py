"""Prices (the table, files), the spending of a run, and the progress gauges, without I/O."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sluice
from sluice import Adaptive, Gate, Rate
from sluice.batch._input import Request, parse_line
from sluice.batch._meter import Recent, limits_text
from sluice.batch._options import BatchOptions
from sluice.batch._prices import BUILTIN_PRICES, Price, PriceTable
from sluice.batch._result import Progress
from sluice.batch._spend import PROMPT_MARGIN, Spending, output_bound, split_estimate
from sluice.llm import Usage

from .files import chat_line


def test_dated_snapshots_take_the_longest_matching_entry() -> None:
    table = PriceTable.load()
    assert table.find("gpt-4o") == BUILTIN_PRICES["gpt-4o"]
    assert table.find("gpt-4o-2024-08-06") == BUILTIN_PRICES["gpt-4o"]
    assert table.find("gpt-4o-mini-2024-07-18") == BUILTIN_PRICES["gpt-4o-mini"]
    assert table.find("gpt-4o-mini") != table.find("gpt-4o")
    assert table.find("gpt-4omni") is None  # a prefix without "-" is another model
    assert table.find("my-model") is None
    assert table.unpriced(["gpt-4.1-nano", "x", "y", "x"]) == ["x", "y"]


def test_a_prices_file_overrides_and_completes_the_table(tmp_path: Path) -> None:
    json_file = tmp_path / "p.json"
    json_file.write_text('{"gpt-4o": {"input": 1, "output": 2}, "local": {"input": 0.5}}')
    table = PriceTable.load(json_file)
    assert table.find("gpt-4o-2024-05-13") == Price(1.0, 2.0)
    assert table.find("local") == Price(0.5, 0.0)
    toml_file = tmp_path / "p.toml"
    toml_file.write_text('["my.model"]\ninput = 3\noutput = 4.5\n')
    assert PriceTable.load(toml_file).find("my.model") == Price(3.0, 4.5)
    assert PriceTable.load({"m": {"input": 1, "output": 1}}).find("m") == Price(1.0, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops", "is not valid JSON"),
        ("[1, 2]", "must map model names to prices"),
        ('{"m": 0.5}', "the price of 'm' must be a table with 'input'"),
        ('{"m": {"output": 1}}', "the price of 'm' must be a table with 'input'"),
        ('{"m": {"input": 1, "ouput": 2}}', "unknown field\\(s\\) ouput"),
        ('{"m": {"input": "1"}}', "'m' input must be a number"),
        ('{"m": {"input": 1, "output": -2}}', "'m' output must be a finite number >= 0"),
        ('{"m": {"input": true}}', "'m' input must be a number"),
        ('{"": {"input": 1}}', "model names must be non-empty strings"),
    ],
)
def test_a_bad_prices_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(text)
    with pytest.raises(sluice.ConfigError, match=message) as caught:
        PriceTable.load(path)
    assert str(path) in str(caught.value)


def test_bad_toml_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text("m = {input = }")
    with pytest.raises(sluice.ConfigError, match="is not valid TOML"):
        PriceTable.load(path)
    with pytest.raises(sluice.ConfigError, match="cannot read the prices file"):
        PriceTable.load(tmp_path / "missing.json")


def test_output_bounds() -> None:
    chat = "/v1/chat/completions"
    assert output_bound(chat, {"max_tokens": 10}) == 10
    assert output_bound(chat, {"max_tokens": 10, "max_completion_tokens": 7, "n": 3}) == 21
    assert output_bound(chat, {}) is None
    assert output_bound(chat, {"max_tokens": "lots"}) is None
    assert output_bound("/v1/embeddings", {"input": "x"}) == 0


def _request(text: str = "question") -> Request:
    entry = parse_line((json.dumps(chat_line("q", text, model="m")) + "\n").encode(), 1)
    assert isinstance(entry, Request)
    return entry


def test_the_cap_refuses_a_request_whose_reservation_would_cross_it() -> None:
    request = _request()
    prompt, bound = split_estimate(request)
    assert bound == 4
    price = Price(1_000_000.0, 2_000_000.0)  # a dollar a prompt token, two an output token
    one = prompt * PROMPT_MARGIN * 1.0 + 4 * 2.0
    spending = Spending.start(PriceTable({"m": price}), cap=2.5 * one, models={"m"})
    first = spending.reserve(request)
    second = spending.reserve(request)
    assert first is not None
    assert second is not None
    assert first == second == pytest.approx(one)
    assert spending.reserve(request) is None
    # The answer cost less than reserved: room for one more.
    spending.settle(request, first, Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2))
    assert spending.spent == pytest.approx(3.0)
    assert spending.tokens == 2
    assert spending.reserve(request) is not None
    # A failure with an answer costs nothing; without one, what was reserved.
    spending.fail(second, answered=True)
    assert spending.spent == pytest.approx(3.0)
    spending.fail(one, answered=False)
    assert spending.spent == pytest.approx(3.0 + one)
    assert spending.reserved == pytest.approx(0.0, abs=1e-9)


def test_a_cap_needs_every_model_priced() -> None:
    with pytest.raises(sluice.ConfigError, match=r"none for 'a', 'b'.*--prices"):
        Spending.start(PriceTable({}), cap=1.0, models={"b", "a"})
    assert Spending.start(PriceTable({}), cap=None, models={"a"}).spent_usd is None


def test_recent_rates_cover_the_last_minute() -> None:
    recent = Recent(started=0.0)
    assert recent.rates(now=10.0, finished=100, tokens=1000) == (10.0, 6000.0)
    for second in range(11, 200):
        recent.rates(now=float(second), finished=100 + (second - 10) * 2, tokens=1000)
    per_second, tokens_per_minute = recent.rates(now=200.0, finished=480, tokens=1000)
    assert per_second == pytest.approx(2.0, rel=0.05)  # the first burst left the window
    assert tokens_per_minute == 0.0


async def test_limits_text_names_the_rates_and_why_concurrency_changed() -> None:
    gate = Gate(rate=Rate(rpm=600, tpm=90_000), concurrency=Adaptive(initial=4, max=8))
    try:
        text = limits_text(gate.statistics())
        assert text.startswith("rpm 600, tpm 90000, concurrency 4")
        assert "breaker" not in text
        gate.pause(3.0)
        assert "paused 3 s" in limits_text(gate.statistics())
    finally:
        await gate.aclose()


def test_the_progress_line_shows_what_is_known() -> None:
    bare = Progress(3, 0, 1, 0, 2.0, 90.0)
    assert "$" not in bare.line()
    assert "ETA" not in bare.line()
    full = Progress(3, 0, 1, 0, 2.0, 90.0, total=10, tokens_per_minute=1500.0,
                    spent_usd=0.5, projected_usd=1.75, eta_seconds=125.0,
                    limits="rpm 60")  # fmt: skip
    line = full.line()
    for part in ("done 3/10", "1500 tok/min", "$0.5000 of ~$1.7500", "ETA 2m05s", "[rpm 60]"):
        assert part in line


def test_bad_money_arguments_say_what_to_do(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/v1"
    for cap in (0, -1.0, float("inf"), "5", True):
        with pytest.raises(sluice.ConfigError, match="max_cost must be a number of USD > 0"):
            BatchOptions.make("in.jsonl", "out.jsonl", base_url=url, max_cost=cap)  # type: ignore[arg-type]
    with pytest.raises(sluice.ConfigError, match="prices must be the path"):
        BatchOptions.make("in.jsonl", "out.jsonl", base_url=url, prices=3)  # type: ignore[arg-type]
    options = BatchOptions.make("in.jsonl", "out.jsonl", base_url=url, max_cost=2)
    assert options.max_cost == 2.0
