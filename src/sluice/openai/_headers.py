"""What a server says about its limits: ``x-ratelimit-*`` and ``Retry-After``, both ways.

Parsing reads a header mapping whose keys are lowercase (or matched case-insensitively, as
aiohttp's are) and trusts nothing: a value that is not a finite, non-negative number counts as
absent. Formatting gives raw ``(name, value)`` byte pairs, as ASGI servers take them::

    parse_duration("6m0s")                         # 360.0
    parse_retry_after({"retry-after-ms": "1500"})  # 1.5
    format_duration(360.0)                         # "6m0s"
    format_retry_after(1.5)       # [(b"retry-after", b"2"), (b"retry-after-ms", b"1500")]
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from ._types import RateLimits

__all__ = [
    "format_duration",
    "format_rate_limits",
    "format_retry_after",
    "parse_duration",
    "parse_rate_limits",
    "parse_request_id",
    "parse_retry_after",
]

RawHeaders = list[tuple[bytes, bytes]]

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


def parse_request_id(headers: Mapping[str, str]) -> str | None:
    """The server's id for this request (``x-request-id``, or ``request-id``)."""
    return headers.get("x-request-id") or headers.get("request-id")


# ------------------------------------------------------------------ formatting
def _whole(seconds: float, scale: int, what: str) -> int:
    """``seconds * scale`` rounded up, at least 0; a clear error for NaN or infinity."""
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be a finite number of seconds, got {seconds!r}")
    return max(0, math.ceil(seconds * scale - 1e-6))


def format_duration(seconds: float) -> str:
    """OpenAI's duration format, as in ``x-ratelimit-reset-*``: milliseconds rounded up,
    ``20ms``, ``1.5s``, ``6m0s``, ``1h2m3s``; a negative duration is ``0s``."""
    millis = _whole(seconds, 1000, "a duration")
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _count_value(value: float, name: bytes) -> bytes:
    if not math.isfinite(value):
        raise ValueError(f"{name.decode()} must be a finite number, got {value!r}")
    return b"%d" % max(0, math.floor(value))


def _budget(
    out: RawHeaders,
    names: tuple[bytes, bytes, bytes],
    limit: float | None,
    remaining: float | None,
    reset: float | None,
) -> None:
    if limit is not None:
        out.append((names[0], _count_value(limit, names[0])))
    if remaining is not None:
        out.append((names[1], _count_value(remaining, names[1])))
    if reset is not None:
        out.append((names[2], format_duration(reset).encode()))


_REQUESTS = (
    b"x-ratelimit-limit-requests",
    b"x-ratelimit-remaining-requests",
    b"x-ratelimit-reset-requests",
)
_TOKENS = (
    b"x-ratelimit-limit-tokens",
    b"x-ratelimit-remaining-tokens",
    b"x-ratelimit-reset-tokens",
)


def format_rate_limits(limits: RateLimits) -> RawHeaders:
    """The ``x-ratelimit-*`` headers for ``limits``; a None field is left out. Counts are
    whole numbers (rounded down, at least 0), resets use `format_duration`."""
    out: RawHeaders = []
    _budget(out, _REQUESTS, limits.requests_limit, limits.requests_remaining, limits.requests_reset)
    _budget(out, _TOKENS, limits.tokens_limit, limits.tokens_remaining, limits.tokens_reset)
    return out


def format_retry_after(seconds: float) -> RawHeaders:
    """``Retry-After`` in whole seconds and ``retry-after-ms``, both rounded up and at least
    1: a client reading either waits no less than ``seconds``."""
    return [
        (b"retry-after", b"%d" % max(1, _whole(seconds, 1, "Retry-After"))),
        (b"retry-after-ms", b"%d" % max(1, _whole(seconds, 1000, "Retry-After"))),
    ]
