"""HTTP headers as the error types of HTTP clients carry them, read without trusting them.

Clients keep headers in many shapes: case-insensitive mappings (httpx, requests, aiohttp,
`email.message.Message` for urllib), plain dicts with lowercase keys (botocore) or with any
case, values as text or bytes. `header` reads one of them by name from any of these. The
values are numbers from outside: `retry_after` and `quota_left` accept only finite,
non-negative ones, and anything else counts as absent.

    header({"Retry-After": "2"}, "retry-after")             # "2"
    retry_after({"retry-after-ms": "1500"})                  # 1.5
    retry_after({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, now=...)   # seconds to then
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

__all__ = ["header", "number", "quota_left", "retry_after", "should_retry"]

# A header missing under its lowercase name is looked for item by item, in this many items at
# most: a hostile mapping cannot make the scan long.
_SCAN_LIMIT = 256

# Remaining-budget headers: OpenAI-style (also Azure, Groq, many proxies) and Anthropic's.
_REMAINING = (
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-output-tokens-remaining",
)


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return None


def header(headers: object, name: str) -> str | None:
    """The value of header ``name`` (lowercase) in ``headers``, matched case-insensitively;
    ``None`` if absent or not text."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    try:
        value = _text(get(name))
        if value is not None or not isinstance(headers, Mapping):
            return value
        # Most header mappings ignore case already; a plain dict may hold "Retry-After".
        for position, (key, item) in enumerate(headers.items()):
            if position >= _SCAN_LIMIT:
                return None
            if isinstance(key, str) and key.lower() == name:
                return _text(item)
    except Exception:  # a mapping we do not know misbehaved: it told us nothing
        return None
    return None


def number(text: str | None) -> float | None:
    """``text`` as a finite number >= 0, else ``None``."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def retry_after(headers: object, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after`` in
    seconds or as an HTTP date (measured from ``now``, default ``time.time()``). ``None``
    when absent or unreadable; never negative."""
    millis = number(header(headers, "retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    return retry_after_value(header(headers, "retry-after"), now)


def retry_after_value(text: str | None, now: float | None = None) -> float | None:
    """One ``Retry-After`` value: seconds, or an HTTP date (see `retry_after`).

    `sluice.openai` parses its own headers the same way: that package imports nothing of
    sluice (it is the protocol alone), and the core imports no application package."""
    if text is None:
        return None
    seconds = number(text)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates: RFC 9110 says they are UTC anyway
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def should_retry(headers: object) -> bool | None:
    """The server's own verdict in ``x-should-retry`` (``true``/``false``), if it gave one."""
    value = header(headers, "x-should-retry")
    if value is None:
        return None
    value = value.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def quota_left(headers: object) -> bool | None:
    """Whether every remaining-budget header present has at least one unit left (``None``
    when there is none, or none is readable)."""
    seen = False
    for name in _REMAINING:
        remaining = number(header(headers, name))
        if remaining is None:
            continue
        if remaining < 1:
            return False
        seen = True
    return True if seen else None
