"""The default classification of errors, and a gate's own on top of it.

`classify_error` reads, in this order, what decides:

1. the error protocol: ``retryable``, ``overloaded`` and ``retry_after`` attributes set on
   the error (sluice's own errors, the LLM client's, yours) win over everything else;
2. the HTTP status, wherever the client library keeps it (see `sluice._classify.shapes`):
   408, 409, 429 and 5xx retry, other 4xx do not; 429, 503 and 529 are ``overloaded``; the
   server's ``x-should-retry`` overrides the status; ``Retry-After`` (seconds, HTTP date or
   ``retry-after-ms``) is read from the response headers;
3. the error's family: timeouts and lost connections retry;
4. when the error itself says nothing, the error it was raised from (``raise ... from``).

Anything else is not retried, and counts as a failure for the circuit breaker unless it is a
local rejection or an error of the request itself (a 4xx other than 408/409/429).

    classify_error(openai.RateLimitError(...))   # retryable, overloaded, retry_after from headers
    gate = Gate("db", retry=3, classify=lambda exc: ErrorInfo(retryable=True)
                if isinstance(exc, DeadlockDetected) else None)
"""

from __future__ import annotations

from collections.abc import Callable

from .._errors import ConfigError, RejectedError
from . import headers as http
from .info import ErrorInfo
from .shapes import aws_code, family_of, headers_of, status_name, status_of

__all__ = ["Classifier", "classifier_for", "classify_error"]

Classifier = Callable[[BaseException], ErrorInfo | None]
"""A gate's own classification: an `ErrorInfo`, or ``None`` to use `classify_error`."""

_RETRY_STATUSES = frozenset({408, 409, 429})
_OVERLOADED_STATUSES = frozenset({429, 503, 529})
_CAUSE_DEPTH = 4

# AWS error codes (botocore) that mean throttling, or a transient fault of the service.
_AWS_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
_AWS_TRANSIENT = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeoutException",
    }
)
# gRPC status names, as google's clients report them beside (or instead of) an HTTP status.
_GRPC_STATUS = {
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "INTERNAL": 500,
    "ABORTED": 409,
}

_NOT_AN_OUTCOME = ErrorInfo(retryable=False, failure=False)
_UNKNOWN = ErrorInfo(retryable=False)


def _flag(error: BaseException, name: str) -> bool | None:
    try:
        value = getattr(error, name, None)
    except Exception:
        return None
    return value if isinstance(value, bool) else None


def _declared_retry_after(error: BaseException) -> float | None:
    try:
        value = getattr(error, "retry_after", None)
    except Exception:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return http.number(str(value))
    if isinstance(value, str):
        return http.retry_after_value(value)
    return None


def classify_error(error: BaseException) -> ErrorInfo:
    """What ``error`` says, by the rules of this module (never raises)."""
    if not isinstance(error, Exception):
        return _NOT_AN_OUTCOME  # cancellation, KeyboardInterrupt: never a call's outcome
    if isinstance(error, RejectedError):
        return ErrorInfo(
            retryable=bool(getattr(error, "retryable", False)),
            overloaded=bool(getattr(error, "overloaded", False)),
            failure=False,
            retry_after=_declared_retry_after(error),
        )
    cause: BaseException | None = error
    for _ in range(_CAUSE_DEPTH):
        if cause is None:
            break
        info = _read(cause)
        if info is not None:
            return info
        cause = cause.__cause__
    return _UNKNOWN


def _read(error: BaseException) -> ErrorInfo | None:
    """What this one error says, or ``None`` if it says nothing at all."""
    declared = retryable = _flag(error, "retryable")
    overloaded = _flag(error, "overloaded")
    declared_wait = _declared_retry_after(error)
    status = status_of(error)
    code = aws_code(error)
    if status is None:
        status = _GRPC_STATUS.get(status_name(error) or "")
    family = family_of(error)
    if retryable is None and overloaded is None and status is None and family is None:
        return None
    headers = headers_of(error)
    verdict = http.should_retry(headers) if headers is not None else None
    retry_after = declared_wait
    if retry_after is None and headers is not None:
        retry_after = http.retry_after(headers)
    quota_left = None if headers is None else http.quota_left(headers)

    throttled = code in _AWS_THROTTLING
    by_status = status is not None and (
        status in _RETRY_STATUSES or status >= 500 or throttled or code in _AWS_TRANSIENT
    )
    if retryable is None:
        if verdict is not None:
            retryable = verdict
        elif status is not None:  # an answer came: its status says more than the error's kind
            retryable = by_status
        else:
            retryable = family is not None
    if overloaded is None:
        overloaded = throttled or (status is not None and status in _OVERLOADED_STATUSES)
    request_fault = status is not None and 400 <= status < 500 and not by_status
    return ErrorInfo(
        retryable=retryable,
        overloaded=overloaded,
        timeout=family == "timeout",
        # An error that declares itself final, or a refused request: the upstream is fine.
        failure=not request_fault and declared is not False,
        retry_after=retry_after,
        status=status,
        quota_left=quota_left,
    )


class _GateClassifier:
    """A gate's own classification first, the default for what it leaves (``None``)."""

    __slots__ = ("_own",)

    def __init__(self, own: Classifier) -> None:
        self._own = own

    def __call__(self, error: BaseException) -> ErrorInfo:
        info = self._own(error)
        if info is None:
            return classify_error(error)
        if not isinstance(info, ErrorInfo):
            raise TypeError(
                f"Gate(classify=...) returned {info!r} for {type(error).__name__}; it must "
                "return a sluice.ErrorInfo, or None to use the default classification"
            )
        return info


def classifier_for(own: object) -> Callable[[BaseException], ErrorInfo]:
    """The classification of a gate given ``classify=own`` (``None``: the default)."""
    if own is None:
        return classify_error
    if not callable(own):
        raise ConfigError(
            f"Gate(classify=...) must be a function (exc) -> sluice.ErrorInfo | None, got {own!r}"
        )
    return _GateClassifier(own)
