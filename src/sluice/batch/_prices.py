"""What requests cost: USD per million tokens, by model.

The built-in table holds common OpenAI chat, completion and embedding models at their
standard (synchronous) rates, the rates a run of ``sluice run`` pays: not the Batch API's
half price, not cached-input discounts. The figures are those OpenAI's public pricing page
(https://platform.openai.com/docs/pricing) listed in August 2025, the date they were taken
and last checked. Prices change and other providers differ: a ``--prices`` file (``prices=``)
overrides any entry and adds the rest, as ``{"model": {"input": usd_per_1M, "output":
usd_per_1M}}`` in JSON or TOML.

A model is found by its exact name, else by the longest table entry it starts with followed by
``-`` (a dated snapshot ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``).

    prices = PriceTable.load("prices.json")       # built-in entries, the file's on top
    prices.find("gpt-4o-2024-08-06")               # Price(input=2.5, output=10.0)
    prices.find("my-model") is None                # no price: say so, never guess
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ConfigError

__all__ = ["BUILTIN_PRICES", "Price", "PriceTable", "PricesSource"]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input: float
    output: float

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """The cost in USD of a request that used these tokens."""
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


def _p(input: float, output: float = 0.0) -> Price:
    return Price(input, output)


BUILTIN_PRICES: Mapping[str, Price] = {
    # chat
    "gpt-5": _p(1.25, 10.00),
    "gpt-5-mini": _p(0.25, 2.00),
    "gpt-5-nano": _p(0.05, 0.40),
    "gpt-4.1": _p(2.00, 8.00),
    "gpt-4.1-mini": _p(0.40, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.40),
    "gpt-4o": _p(2.50, 10.00),
    "gpt-4o-mini": _p(0.15, 0.60),
    "o1": _p(15.00, 60.00),
    "o1-mini": _p(1.10, 4.40),
    "o3": _p(2.00, 8.00),
    "o3-mini": _p(1.10, 4.40),
    "o4-mini": _p(1.10, 4.40),
    "gpt-4-turbo": _p(10.00, 30.00),
    "gpt-4-0125-preview": _p(10.00, 30.00),
    "gpt-4-1106-preview": _p(10.00, 30.00),
    "gpt-4": _p(30.00, 60.00),
    "gpt-3.5-turbo": _p(0.50, 1.50),
    # completions
    "gpt-3.5-turbo-instruct": _p(1.50, 2.00),
    "davinci-002": _p(2.00, 2.00),
    "babbage-002": _p(0.40, 0.40),
    # embeddings (input only)
    "text-embedding-3-small": _p(0.02),
    "text-embedding-3-large": _p(0.13),
    "text-embedding-ada-002": _p(0.10),
}
"""The built-in prices (USD per 1M tokens, OpenAI's standard rates as of August 2025)."""

PricesSource = str | Path | Mapping[str, Mapping[str, float]]
"""A prices file (JSON or TOML), or the same mapping in Python."""

_FIELDS = ("input", "output")


class PriceTable:
    """Prices by model: the built-in ones, overridden and completed by the user's."""

    __slots__ = ("_prices",)

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)

    @classmethod
    def load(cls, source: PricesSource | None = None) -> PriceTable:
        """The built-in prices with ``source``'s on top (a file path or a mapping)."""
        prices = dict(BUILTIN_PRICES)
        if source is not None:
            if isinstance(source, Mapping):
                prices.update(parse_prices(source, "prices"))
            elif isinstance(source, str | Path):
                prices.update(read_prices(Path(source)))
            else:
                raise ConfigError(
                    "prices must be the path of a JSON or TOML file, or a mapping "
                    f"{{model: {{'input': usd_per_1M, 'output': usd_per_1M}}}}, got {source!r}"
                )
        return cls(prices)

    def find(self, model: str) -> Price | None:
        """The price of ``model``: its own entry, else that of the longest entry it extends
        with ``-`` (a dated snapshot), else None."""
        price = self._prices.get(model)
        if price is not None:
            return price
        best = ""
        for name in self._prices:
            if len(name) > len(best) and model.startswith(name + "-"):
                best = name
        return self._prices[best] if best else None

    def unpriced(self, models: Iterable[str]) -> list[str]:
        """The models among ``models`` without a price, sorted."""
        return sorted(model for model in set(models) if self.find(model) is None)


def read_prices(path: Path) -> dict[str, Price]:
    """A prices file: JSON, or TOML when it ends with ``.toml``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the prices file {str(path)!r}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode())
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ConfigError(
            f"the prices file {str(path)!r} is not valid {kind} ({exc}); write it as "
            '{"model-name": {"input": 0.15, "output": 0.60}} (USD per 1M tokens)'
        ) from None
    return parse_prices(data, f"the prices file {str(path)!r}")


def parse_prices(data: object, where: str) -> dict[str, Price]:
    """``{"model": {"input": usd_per_1M, "output": usd_per_1M}}`` checked: every model a
    non-empty name, both prices numbers >= 0 (``output`` may be left out for embeddings)."""
    example = '{"model-name": {"input": 0.15, "output": 0.60}}'
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where} must map model names to prices, like {example} (USD per 1M tokens), "
            f"got a {type(data).__name__}"
        )
    prices: dict[str, Price] = {}
    for model, entry in data.items():
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"{where}: model names must be non-empty strings, got {model!r}")
        if not isinstance(entry, Mapping) or "input" not in entry:
            raise ConfigError(
                f"{where}: the price of {model!r} must be a table with 'input' (and 'output') "
                f"in USD per 1M tokens, like {example}; got {entry!r}"
            )
        unknown = sorted(str(key) for key in entry if key not in _FIELDS)
        if unknown:
            raise ConfigError(
                f"{where}: the price of {model!r} has unknown field(s) {', '.join(unknown)}: "
                "only 'input' and 'output' (USD per 1M tokens) are read"
            )
        values = [_usd(where, model, name, entry.get(name, 0.0)) for name in _FIELDS]
        prices[model] = Price(*values)
    return prices


def _usd(where: str, model: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{where}: {model!r} {name} must be a number (USD per 1M tokens), got {value!r}"
        )
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{where}: {model!r} {name} must be a finite number >= 0 (USD per 1M tokens), "
            f"got {value!r}"
        )
    return float(value)
