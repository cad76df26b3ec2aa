"""The rate stage's token bookkeeping: estimates checked, bookings bounded, refusals refunded.

Each test drives the stage the way the kernel does (``before``, then ``after`` with the
attempt's outcome on the `Call` record), with the time passed in: no event loop.
"""

from __future__ import annotations

import math
import socket

import pytest

from sluice import ErrorInfo
from sluice._core.call import Call
from sluice._stages.rate import RateLimiter
from sluice.policies.rate import Rate


def noop() -> None:
    return None


def tokens_gate() -> RateLimiter:
    return RateLimiter(Rate(tpm=600, token_burst=100), gate="g")  # 10 tokens per second


def admit(rate: RateLimiter, tokens: object, now: float = 0.0) -> Call:
    """An attempt admitted at ``now`` (after the wait it was told, if any) and sent."""
    call = Call(noop, (), {}, tokens)  # type: ignore[arg-type]
    call.deadline = None
    wait = rate.before(call, now)
    call.started = now + (wait or 0.0)
    return call


def fail(
    rate: RateLimiter,
    call: Call,
    error: BaseException,
    *,
    status: int | None = None,
    overloaded: bool = False,
) -> None:
    call.error = error
    call.info = ErrorInfo(retryable=False, overloaded=overloaded, status=status)
    assert call.started is not None
    rate.after(call, call.started)


@pytest.mark.parametrize("tokens", [math.nan, math.inf, -5, -0.5, "100", True])
def test_a_bad_estimate_is_refused_naming_tokens(tokens: object) -> None:
    with pytest.raises(ValueError, match=r"tokens=") as info:
        admit(tokens_gate(), tokens)
    assert repr(tokens) in str(info.value)


def test_an_estimate_function_returning_nan_is_refused_too() -> None:
    with pytest.raises(ValueError, match="finite number >= 0, got nan"):
        admit(tokens_gate(), lambda: math.nan)


def test_a_huge_estimate_is_booked_as_a_minute_of_the_budget() -> None:
    rate = tokens_gate()
    call = admit(rate, 1e12)
    assert call.reserved == 600.0  # tpm: the most one booking may count
    assert call.tokens == 1e12  # the estimate itself is kept for the retries
    assert rate.earliest(0.0, 10) == 51.0


@pytest.mark.parametrize(
    ("status", "overloaded"),
    [(400, False), (404, False), (422, False), (429, True), (503, True), (None, True)],
)
def test_a_call_refused_before_processing_gives_its_tokens_back(
    status: int | None, overloaded: bool
) -> None:
    rate = tokens_gate()
    fail(rate, admit(rate, 100), RuntimeError("refused"), status=status, overloaded=overloaded)
    assert rate.earliest(0.0, 100) == 0.0  # the bucket is full again


def test_a_server_error_keeps_the_estimate() -> None:
    rate = tokens_gate()
    fail(rate, admit(rate, 100), RuntimeError("internal error"), status=500)
    assert rate.earliest(0.0, 100) == 10.0  # it may have been processed: still counted


def test_a_refused_connection_gives_its_tokens_back_through_wrappers() -> None:
    class ClientError(ConnectionError):
        pass

    rate = tokens_gate()
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as exc:
            raise ClientError("cannot connect") from exc
    except ClientError as wrapped:
        error: BaseException = wrapped
    fail(rate, admit(rate, 100), error)
    assert rate.earliest(0.0, 100) == 0.0


def test_an_unresolvable_host_gives_its_tokens_back() -> None:
    rate = tokens_gate()
    fail(rate, admit(rate, 100), socket.gaierror(-2, "Name or service not known"))
    assert rate.earliest(0.0, 100) == 0.0


def test_a_connection_broken_mid_answer_keeps_the_estimate() -> None:
    rate = tokens_gate()
    fail(rate, admit(rate, 100), ConnectionResetError(104, "Connection reset by peer"))
    assert rate.earliest(0.0, 100) == 10.0


@pytest.mark.parametrize("actual", [math.nan, math.inf, -1.0])
def test_an_unusable_usage_count_leaves_the_booking_as_it_is(actual: float) -> None:
    rate = tokens_gate()
    rate.reserve(0.0, 100)
    rate.settle(reserved=100, actual=actual)
    assert rate.earliest(0.0, 100) == 10.0


def test_a_huge_usage_count_is_settled_as_a_minute_of_the_budget() -> None:
    rate = tokens_gate()
    rate.reserve(0.0, 100)
    rate.settle(reserved=100, actual=1e15)
    assert rate.earliest(0.0, 10) == 51.0  # 600 counted: a 500-token debt


def test_statistics_show_the_wait_a_token_debt_imposes() -> None:
    rate = tokens_gate()
    rate.reserve(0.0, 400)  # 300 tokens of debt: every call carrying tokens waits 30 s
    assert rate.statistics(0.0).delay == 30.0
    assert rate.statistics(20.0).delay == 10.0
    assert rate.statistics(40.0).delay == 0.0
