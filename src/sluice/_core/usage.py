"""Token usage: how a call tells its gate how many tokens it really spent.

A gate with a ``tpm`` budget reserves an estimate before each attempt (``tokens=``) and settles
it afterwards with the real count, taken from the first of:

1. `record_usage` called from inside the call (works from threads too, not from processes);
2. the result's ``usage.total_tokens`` (attribute or mapping key), as OpenAI-style responses
   carry it;
3. otherwise the estimate stands.

    async def complete(prompt: str) -> str:
        response = await sdk.create(prompt=prompt)
        sluice.record_usage(response.usage.total_tokens)
        return response.text
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

__all__ = ["UsageBox", "record_usage", "usage_of"]


class UsageBox:
    """Where `record_usage` leaves the count for the attempt that is running."""

    __slots__ = ("tokens",)

    def __init__(self) -> None:
        self.tokens: float | None = None


CURRENT_USAGE: ContextVar[UsageBox | None] = ContextVar("sluice_usage", default=None)


def record_usage(total_tokens: float) -> None:
    """Report the tokens the current gate call really used (prompt plus completion).

    Outside a gate call with a token budget this does nothing, so functions stay usable on
    their own.
    """
    if isinstance(total_tokens, bool) or not isinstance(total_tokens, int | float):
        raise TypeError(f"record_usage(total_tokens=...) must be a number, got {total_tokens!r}")
    if total_tokens < 0:
        raise ValueError(f"record_usage(total_tokens=...) must be >= 0, got {total_tokens!r}")
    box = CURRENT_USAGE.get()
    if box is not None:
        box.tokens = float(total_tokens)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def usage_of(result: object) -> float | None:
    """``result.usage.total_tokens`` (attributes or mapping keys at either level), if present."""
    usage = result.get("usage") if isinstance(result, Mapping) else getattr(result, "usage", None)
    if usage is None:
        return None
    if isinstance(usage, Mapping):
        return _number(usage.get("total_tokens"))
    return _number(getattr(usage, "total_tokens", None))
