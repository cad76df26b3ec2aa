"""The rules of `classify_error` and a gate's own classification on top of it."""

from __future__ import annotations

import asyncio
import math
import ssl
from typing import Any

import pytest

import sluice
from sluice import ErrorInfo, classify_error


class HttpError(Exception):
    """An error of some client: a status and a response with headers."""

    def __init__(self, status: int, headers: Any = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.response = type("Response", (), {"headers": headers or {}})()


def test_the_error_protocol_wins() -> None:
    class Declared(HttpError):
        retryable = False
        overloaded = False
        retry_after = 9.0

    info = classify_error(Declared(503, {"retry-after": "1"}))
    assert (info.retryable, info.overloaded, info.retry_after) == (False, False, 9.0)


def test_a_plain_dict_of_headers_is_read_whatever_the_case() -> None:
    info = classify_error(HttpError(429, {"Retry-After": "2", "X-RateLimit-Remaining-Tokens": "0"}))
    assert (info.retry_after, info.quota_left) == (2.0, False)


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "1e400", "soon", "", "Thu, 01 Jan 1970"])
def test_unreadable_or_absurd_retry_after_counts_as_absent(value: str) -> None:
    assert classify_error(HttpError(429, {"retry-after": value})).retry_after is None


def test_an_http_date_in_the_past_means_no_wait() -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert classify_error(HttpError(503, {"retry-after": past})).retry_after == 0.0


def test_a_huge_header_mapping_is_scanned_boundedly() -> None:
    headers = {f"h{i}": "x" for i in range(100_000)}
    headers["Retry-After"] = "3"  # beyond the scan: missed, not searched for forever
    assert classify_error(HttpError(429, headers)).retry_after is None


def test_attributes_that_raise_tell_nothing() -> None:
    class Hostile(Exception):
        @property
        def status_code(self) -> int:
            raise RuntimeError("no")

        @property
        def response(self) -> object:
            raise RuntimeError("no")

    assert classify_error(Hostile()) == ErrorInfo(retryable=False)


def test_the_cause_speaks_when_the_error_does_not() -> None:
    wrapped = RuntimeError("fetch failed")
    wrapped.__cause__ = ConnectionResetError("reset")
    assert classify_error(wrapped).retryable
    assert not classify_error(RuntimeError("fetch failed")).retryable


def test_errors_that_say_nothing_are_failures_that_do_not_retry() -> None:
    assert classify_error(ValueError("bad")) == ErrorInfo(retryable=False, failure=True)


def test_cancellation_and_rejections_are_not_failures() -> None:
    assert not classify_error(asyncio.CancelledError()).failure
    rejected = classify_error(sluice.OverloadedError("full", gate="g", reason="queue_full"))
    assert (rejected.failure, rejected.overloaded, rejected.retryable) == (False, True, False)


def test_a_certificate_that_does_not_verify_is_not_retried() -> None:
    error = ssl.SSLCertVerificationError("certificate verify failed")
    assert not classify_error(error).retryable


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retryable", "yes"),
        ("retry_after", math.nan),
        ("retry_after", -1.0),
        ("status", 99),
        ("status", True),
        ("quota_left", 1),
    ],
)
def test_error_info_checks_its_fields(field: str, value: object) -> None:
    arguments: dict[str, Any] = {"retryable": True, field: value}
    with pytest.raises(sluice.ConfigError, match=rf"ErrorInfo\({field}=\.\.\.\)"):
        ErrorInfo(**arguments)


class Deadlock(Exception):
    pass


async def test_a_gates_own_classification_comes_first() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise Deadlock("try again")
        return "done"

    def classify(exc: BaseException) -> ErrorInfo | None:
        return ErrorInfo(retryable=True) if isinstance(exc, Deadlock) else None

    gate = sluice.Gate("db", retry=sluice.Retry(attempts=3), classify=classify)
    assert await gate.run(flaky) == "done"
    assert attempts == 3
    plain = sluice.Gate("db", retry=sluice.Retry(attempts=3))
    attempts = 0
    with pytest.raises(Deadlock):
        await plain.run(flaky)
    assert attempts == 1


async def test_a_classification_that_returns_garbage_is_raised_and_frees_the_permit() -> None:
    async def fail() -> None:
        raise ValueError("upstream")

    gate = sluice.Gate("g", concurrency=1, classify=lambda exc: "retry please")
    with pytest.raises(TypeError, match=r"Gate\(classify=\.\.\.\) returned 'retry please'"):
        await gate.run(fail)
    assert gate.statistics().in_flight == 0


def test_classify_must_be_callable() -> None:
    with pytest.raises(sluice.ConfigError, match=r"Gate\(classify=\.\.\.\) must be a function"):
        sluice.Gate("g", classify="default")  # type: ignore[arg-type]


async def test_a_429_pauses_the_gate_only_when_its_headers_say_the_quota_is_spent() -> None:
    loop = asyncio.get_running_loop()

    async def refused(headers: dict[str, str]) -> None:
        raise HttpError(429, {"retry-after": "10", **headers})

    gate = sluice.Gate("llm", retry=1)
    with pytest.raises(HttpError):
        await gate.run(refused, {"x-ratelimit-remaining-requests": "590"})
    assert gate.statistics().paused_for == 0.0
    with pytest.raises(HttpError):
        await gate.run(refused, {"x-ratelimit-remaining-requests": "0"})
    assert gate.statistics().paused_for == 10.0
    start = loop.time()
    await gate.run(asyncio.sleep, 0)
    assert loop.time() - start == 10.0


async def test_client_errors_do_not_open_the_breaker() -> None:
    async def bad_request() -> None:
        raise HttpError(400)

    gate = sluice.Gate("llm", breaker=sluice.Breaker(failure_rate=0.5, window=4, min_calls=4))
    for _ in range(8):
        with pytest.raises(HttpError):
            await gate.run(bad_request)
    breaker = gate.statistics().breaker
    assert breaker is not None
    assert breaker.state == "closed"
