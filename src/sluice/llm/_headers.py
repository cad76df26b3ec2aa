"""Reading what a server says about its limits: ``x-ratelimit-*`` and ``Retry-After``.

Pure functions over a header mapping whose keys are lowercase (or matched case-insensitively,
as aiohttp's are)::

    parse_duration("6m0s")                         # 360.0
    parse_retry_after({"retry-after-ms": "1500"})  # 1.5
    parse_rate_limits(headers).tokens_remaining    # 88_500.0
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from ._types import RateLimits

__all__ = ["parse_duration", "parse_rate_limits", "parse_retry_after", "request_id_of"]

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
# Longer units first, so "20ms" is 20 milliseconds and not 20 minutes and a stray "s".
_PART = re.compile(rf"({_NUMBER})(ms|us|µs|ns|d|h|m|s)")
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ms|us|µs|ns|d|h|m|s))+")
_UNITS = {
    "d": 86_400.0,
    "h": 3_600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_duration(text: str | None) -> float | None:
    """Seconds from an OpenAI duration (``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``) or a plain
    number of seconds; None for anything else."""
    if text is None:
        return None
    text = text.strip()
    if _DURATION.fullmatch(text):
        return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
    return _seconds(text)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after`` in
    seconds, else ``retry-after`` as an HTTP date (``now`` is the wall-clock time to measure
    it from; default ``time.time()``). None when absent or unreadable; never negative."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        value = _seconds(millis)
        if value is not None:
            return value / 1000.0
    text = headers.get("retry-after")
    if text is None:
        return None
    value = _seconds(text)
    if value is not None:
        return value
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates: RFC 9110 says they are UTC anyway
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _count(text: str | None) -> float | None:
    return None if text is None else _seconds(text)


def parse_rate_limits(headers: Mapping[str, str]) -> RateLimits | None:
    """The ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers, or None when the
    response carries none of them."""
    get = headers.get
    requests_limit = get("x-ratelimit-limit-requests")
    requests_remaining = get("x-ratelimit-remaining-requests")
    tokens_limit = get("x-ratelimit-limit-tokens")
    tokens_remaining = get("x-ratelimit-remaining-tokens")
    if (
        requests_limit is None
        and requests_remaining is None
        and tokens_limit is None
        and tokens_remaining is None
    ):
        return None
    return RateLimits(
        requests_limit=_count(requests_limit),
        requests_remaining=_count(requests_remaining),
        requests_reset=parse_duration(get("x-ratelimit-reset-requests")),
        tokens_limit=_count(tokens_limit),
        tokens_remaining=_count(tokens_remaining),
        tokens_reset=parse_duration(get("x-ratelimit-reset-tokens")),
    )


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's id for this request (``x-request-id``, or ``request-id``)."""
    return headers.get("x-request-id") or headers.get("request-id")
