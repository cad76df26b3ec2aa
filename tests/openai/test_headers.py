"""Rate-limit headers, durations and Retry-After, parsed and formatted without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from sluice.openai import (
    RateLimits,
    format_duration,
    format_rate_limits,
    format_retry_after,
    parse_duration,
    parse_rate_limits,
    parse_request_id,
    parse_retry_after,
)


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


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.02, "20ms"),
        (0.0201, "21ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (59.999, "59.999s"),
        (360, "6m0s"),
        (90.25, "1m30.25s"),
        (3723, "1h2m3s"),
        (-1, "0s"),
    ],
)
def test_reset_duration_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.0, 0.02, 0.12, 1.0, 1.5, 59.999, 90.25, 360.0, 3723.0])
def test_formatted_durations_parse_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_formatting_refuses_what_is_not_a_finite_duration(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_duration(bad)
    with pytest.raises(ValueError, match="Retry-After must be a finite"):
        format_retry_after(bad)
    with pytest.raises(ValueError, match="x-ratelimit-limit-tokens must be a finite"):
        format_rate_limits(RateLimits(None, None, None, bad, None, None))


def test_rate_limit_headers_round_trip() -> None:
    limits = RateLimits(500, 499, 0.12, 90_000, 88_500, 1.0)
    raw = format_rate_limits(limits)
    assert raw[:3] == [
        (b"x-ratelimit-limit-requests", b"500"),
        (b"x-ratelimit-remaining-requests", b"499"),
        (b"x-ratelimit-reset-requests", b"120ms"),
    ]
    headers = {name.decode(): value.decode() for name, value in raw}
    assert parse_rate_limits(headers) == limits


def test_rate_limit_headers_leave_out_what_is_none_and_clamp_counts() -> None:
    raw = format_rate_limits(RateLimits(None, None, None, 100.0, -3.5, -1.0))
    assert raw == [
        (b"x-ratelimit-limit-tokens", b"100"),
        (b"x-ratelimit-remaining-tokens", b"0"),
        (b"x-ratelimit-reset-tokens", b"0s"),
    ]
    assert format_rate_limits(RateLimits(None, None, None, None, None, None)) == []


@pytest.mark.parametrize(
    ("seconds", "whole", "millis"),
    [(0.0, b"1", b"1"), (0.0004, b"1", b"1"), (1.5, b"2", b"1500"), (30.0, b"30", b"30000")],
)
def test_retry_after_is_rounded_up_and_read_back_no_shorter(
    seconds: float, whole: bytes, millis: bytes
) -> None:
    raw = format_retry_after(seconds)
    assert raw == [(b"retry-after", whole), (b"retry-after-ms", millis)]
    headers = {name.decode(): value.decode() for name, value in raw}
    read = parse_retry_after(headers)
    assert read is not None
    assert read >= seconds
    assert parse_retry_after({"retry-after": whole.decode()}) == float(whole)


def test_request_id() -> None:
    assert parse_request_id({"x-request-id": "req_1", "request-id": "req_2"}) == "req_1"
    assert parse_request_id({"request-id": "req_2"}) == "req_2"
    assert parse_request_id({}) is None


@pytest.mark.parametrize("text", ["1e400", "-0.5", "nan"])
def test_outside_numbers_that_are_not_finite_and_non_negative_are_ignored(text: str) -> None:
    assert parse_retry_after({"retry-after-ms": text}) is None
    assert parse_rate_limits({"x-ratelimit-remaining-requests": text}) == RateLimits(
        None, None, None, None, None, None
    )
