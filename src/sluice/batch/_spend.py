"""Money and tokens as a run goes: what the answers cost (from their ``usage``), what the
requests in flight may cost, and the ``--max-cost`` cap.

Before a request is sent, its cost is reserved from an estimate: its prompt (the client's
token estimate, counted `PROMPT_MARGIN` high) plus the most it may write
(``max_completion_tokens`` or ``max_tokens``, times ``n``; without either, the longest answer
seen so far in the run, and `DEFAULT_OUTPUT_TOKENS` before the first). A request whose
reservation would take spent plus reserved money past the cap is not sent, and the run stops
sending; the requests in flight finish. The cap holds as far as the estimates do: a prompt
that takes more tokens than estimated (four characters a token undercounts code and many
languages, unless tiktoken is installed) can take a run past it by that difference for the
requests in flight. When an answer arrives its reservation is replaced by what its ``usage``
says it cost. A failed request costs nothing when the server answered with an error status,
and its reservation when it did not answer (a timeout, a lost connection: the work may have
been done and billed).

    spending = Spending.start(PriceTable.load(), cap=5.0, models={"gpt-4o-mini"})
    reservation = spending.reserve(request)        # None: the cap would be crossed
    spending.settle(request, reservation, result.usage)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import ConfigError
from ..llm import Usage, estimate_tokens
from ._input import Request
from ._prices import Price, PriceTable

__all__ = ["DEFAULT_OUTPUT_TOKENS", "PROMPT_MARGIN", "Spending", "output_bound", "split_estimate"]

DEFAULT_OUTPUT_TOKENS = 1000
"""Output tokens assumed for a request without ``max_tokens`` until a longer answer is seen."""

PROMPT_MARGIN = 1.25
"""The prompt estimate is multiplied by this for a reservation: a cap errs on the safe side."""

_EMBEDDINGS = "/v1/embeddings"


def output_bound(url: str, body: Mapping[str, Any]) -> int | None:
    """The most output tokens a request may be billed for; None when it sets no bound."""
    if url == _EMBEDDINGS:
        return 0
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
        return None
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        n = 1
    return int(limit) * n


def split_estimate(request: Request) -> tuple[int, int | None]:
    """(estimated input tokens, output bound or None) of a request."""
    bound = output_bound(request.url, request.body)
    total = estimate_tokens(request.body)
    # The estimate is prompt + the body's own output limit; keep the prompt part.
    allowed = output_bound("", request.body) or 0
    return max(0, int(total - allowed)), bound


class Spending:
    """A run's tokens and money: settled from usage, reserved for requests in flight."""

    def __init__(self, prices: PriceTable, cap: float | None, *, priced: bool) -> None:
        self.prices, self.cap = prices, cap
        self.priced = priced  # every model the run sends has a price
        self.spent = 0.0
        self.reserved = 0.0
        self.tokens = 0
        self.answers = 0  # answers whose usage was settled
        self.longest_output = 0
        self._by_model: dict[str, Price | None] = {}

    @classmethod
    def start(cls, prices: PriceTable, cap: float | None, models: Iterable[str]) -> Spending:
        """The spending of a run sending to ``models``; with a cap, every model must have a
        price (a cap on a guess would be no cap)."""
        unpriced = prices.unpriced(models)
        if cap is not None and unpriced:
            names = ", ".join(repr(model) for model in unpriced)
            raise ConfigError(
                f"--max-cost (max_cost=) needs the price of every model sent, and there is "
                f"none for {names}: give it in a --prices file (prices=), as "
                '{"model-name": {"input": 0.15, "output": 0.60}} in USD per 1M tokens'
            )
        return cls(prices, cap, priced=not unpriced)

    def price(self, request: Request) -> Price | None:
        model = request.body.get("model")
        if not isinstance(model, str):
            return None
        if model not in self._by_model:
            self._by_model[model] = self.prices.find(model)
        return self._by_model[model]

    def reserve(self, request: Request) -> float | None:
        """Reserve what the request may cost; None (nothing reserved) if that would take the
        run past its cap. Without a cap nothing is estimated and 0 is reserved."""
        if self.cap is None:
            return 0.0
        price = self.price(request)
        if price is None:  # no model in the body: the server refuses it, at no charge
            return 0.0
        input_tokens, bound = split_estimate(request)
        if bound is None:
            bound = max(self.longest_output, DEFAULT_OUTPUT_TOKENS)
        reservation = price.cost(input_tokens * PROMPT_MARGIN, bound)
        if self.spent + self.reserved + reservation > self.cap:
            return None
        self.reserved += reservation
        return reservation

    def settle(self, request: Request, reservation: float, usage: Usage | None) -> None:
        """An answer arrived: its reservation becomes what its usage says it cost (the
        reservation itself when it reports no usage)."""
        self.reserved = max(0.0, self.reserved - reservation)
        if usage is None:
            self.spent += reservation
            return
        self.tokens += usage.total_tokens
        self.answers += 1
        self.longest_output = max(self.longest_output, usage.completion_tokens)
        price = self.price(request)
        if price is not None:
            self.spent += price.cost(usage.prompt_tokens, usage.completion_tokens)

    def fail(self, reservation: float, *, answered: bool) -> None:
        """A request failed: free when the server answered with an error, its reservation
        when it did not answer (the work may have been billed)."""
        self.reserved = max(0.0, self.reserved - reservation)
        if not answered:
            self.spent += reservation

    def release(self, reservation: float) -> None:
        """A request was not sent after all (a stop caught it in the gate)."""
        self.reserved = max(0.0, self.reserved - reservation)

    @property
    def spent_usd(self) -> float | None:
        """What the run spent, when every model it sends has a price."""
        return self.spent if self.priced else None
