"""A dry run: what a run would send, and about what it would cost, without sending anything.

It reads the input and the journal as a run does (so done ids are skipped and, with dedup,
a body repeated under several custom_ids counts once), then adds up each request's tokens:
its prompt as the client estimates it, and the most it may write (``max_completion_tokens``
or ``max_tokens`` times ``n``; none for embeddings). A request that sets no bound is counted
at `DEFAULT_OUTPUT_TOKENS` in the upper figure, and said to be unbounded. The cost goes from
the prompts alone (answers of no length) to the prompts plus every bound.

    estimate = estimate_plan(plan, prices, dedup=True, max_cost=None)
    print(estimate.summary())
"""

from __future__ import annotations

from dataclasses import dataclass

from ._input import Malformed
from ._plan import Plan
from ._prices import PriceTable
from ._spend import DEFAULT_OUTPUT_TOKENS, split_estimate

__all__ = ["Estimate", "estimate_plan"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a dry run found.

    ``requests``: requests the run would send; ``deduplicated``: custom_ids it would answer
    from an identical request instead; ``malformed``, ``skipped_already_done``,
    ``carried_failures`` (failed for good earlier, not tried again): lines it would not send.
    ``input_tokens``: the prompts' estimate; ``output_tokens``: the sum of the output bounds
    of the requests that set one; ``unbounded``: requests that set none. ``cost_low`` /
    ``cost_high`` (USD): prompts only / prompts plus every bound (`DEFAULT_OUTPUT_TOKENS` for
    an unbounded request); None when ``unpriced`` names models without a price.
    """

    requests: int
    deduplicated: int
    malformed: int
    skipped_already_done: int
    carried_failures: int
    input_tokens: int
    output_tokens: int
    unbounded: int
    cost_low: float | None
    cost_high: float | None
    models: tuple[str, ...]
    unpriced: tuple[str, ...]
    max_cost: float | None

    def summary(self) -> str:
        """The estimate in a few lines."""
        lines = [
            f"dry run, nothing sent: would send {self.requests} requests "
            f"({self.deduplicated} answered from identical ones, {self.malformed} malformed, "
            f"{self.skipped_already_done} already done, {self.carried_failures} failed "
            "earlier and not retried)",
            f"tokens: ~{self.input_tokens} input, up to {self.output_tokens} output",
        ]
        if self.unbounded:
            lines[-1] += (
                f" + {self.unbounded} requests without max_tokens (unbounded; "
                f"counted at {DEFAULT_OUTPUT_TOKENS} output tokens each below)"
            )
        models = ", ".join(self.models) or "none"
        if self.cost_low is None or self.cost_high is None:
            missing = ", ".join(repr(model) for model in self.unpriced)
            lines.append(f"cost: unknown, no price for {missing} (give it with --prices)")
        else:
            lines.append(f"cost: ${self.cost_low:.4f} to ${self.cost_high:.4f} (models: {models})")
            cap = self.max_cost
            if cap is not None and self.cost_high > cap:
                lines.append(f"--max-cost {cap:g} may stop the run before the end")
        return "\n".join(lines)


def estimate_plan(
    plan: Plan, prices: PriceTable, *, dedup: bool, max_cost: float | None
) -> Estimate:
    """Read what ``plan`` has left to do and add it up (nothing is sent)."""
    seen: set[bytes] = set()
    requests = deduplicated = malformed = unbounded = 0
    input_tokens = output_tokens = 0
    low = high = 0.0
    for entry in plan.pending():
        if isinstance(entry, Malformed):
            malformed += 1
            continue
        if dedup:
            if entry.fingerprint in seen:
                deduplicated += 1
                continue
            seen.add(entry.fingerprint)
        requests += 1
        prompt, bound = split_estimate(entry)
        input_tokens += prompt
        if bound is None:
            unbounded += 1
        else:
            output_tokens += bound
        model = entry.body.get("model")
        price = prices.find(model) if isinstance(model, str) else None
        if price is not None:
            low += price.cost(prompt, 0)
            high += price.cost(prompt, DEFAULT_OUTPUT_TOKENS if bound is None else bound)
    unpriced = tuple(prices.unpriced(plan.models))
    return Estimate(
        requests=requests,
        deduplicated=deduplicated,
        malformed=malformed,
        skipped_already_done=plan.skipped_done,
        carried_failures=len(plan.carried),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        unbounded=unbounded,
        cost_low=None if unpriced else low,
        cost_high=None if unpriced else high,
        models=tuple(sorted(plan.models)),
        unpriced=unpriced,
        max_cost=max_cost,
    )
