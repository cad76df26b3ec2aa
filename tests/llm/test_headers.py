"""Rate-limit headers, durations and Retry-After, parsed without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from sluice.llm import RateLimits, parse_duration, parse_rate_limits, parse_retry_after


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0s", 0.0),
        ("59.998s", 59.998),
        ("2m59.56s", 179.56),
        ("1d", 86_400.0),
        ("150us", 0.00015),
        ("0.5", 0.5),
        ("60", 60.0),
        (" 7s ", 7.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "-1s", "s", "nan", "inf", "1s2", None])
def test_bad_durations_are_none(text: str | None) -> None:
    assert parse_duration(text) is None


def test_retry_after_prefers_milliseconds() -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "9"}
    assert parse_retry_after(headers) == 1.5


def test_retry_after_seconds() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25


def test_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"retry-after": later}, now=now) == 30.0
    # A date in the past means "now", never a negative wait.
    assert parse_retry_after({"retry-after": later}, now=now + 100) == 0.0


def test_bad_milliseconds_fall_back_to_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0


@pytest.mark.parametrize(
    "headers", [{}, {"retry-after": "whenever"}, {"retry-after": "-5"}, {"retry-after-ms": "x"}]
)
def test_retry_after_absent_or_unreadable(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers) is None


def test_rate_limits_all_six() -> None:
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "90000",
        "x-ratelimit-remaining-tokens": "88500",
        "x-ratelimit-reset-tokens": "1s",
    }
    assert parse_rate_limits(headers) == RateLimits(500, 499, 0.12, 90_000, 88_500, 1.0)


def test_rate_limits_partial_and_absent() -> None:
    assert parse_rate_limits({"content-type": "application/json"}) is None
    limits = parse_rate_limits(
        {"x-ratelimit-remaining-tokens": "10", "x-ratelimit-reset-tokens": "?"}
    )
    assert limits == RateLimits(None, None, None, None, 10.0, None)
