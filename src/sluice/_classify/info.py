"""What a failed call's error says, in the terms the policies act on.

`ErrorInfo` is the one answer every policy reads: whether to try again, whether the upstream
is shedding load (adaptive concurrency backs off, a 429 may pause the gate), how long it asked
us to wait, whether the error speaks against the upstream's health (the circuit breaker
counts it), and the HTTP status and quota it reported, when it did.

    ErrorInfo(retryable=True, overloaded=True, retry_after=2.0, status=429)
    ErrorInfo(retryable=False, failure=False, status=400)     # the request was wrong
    ErrorInfo(retryable=True, timeout=True)                   # no answer in time
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._errors import ConfigError

__all__ = ["ErrorInfo"]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The classification of one error (see `sluice.classify_error`).

    retryable:
        another attempt may succeed (timeouts, lost connections, 408/409/429/5xx).
    overloaded:
        the upstream refused for load (429, 503, 529, a throttling code): adaptive concurrency
        counts it as a drop, and with ``retry_after`` it may pause the whole gate.
    timeout:
        the upstream did not answer in time; adaptive concurrency counts it as a drop too.
    failure:
        it speaks against the upstream's health, so the circuit breaker counts it. ``False``
        for errors of the request itself (400, 401, 404, 422...) and for local rejections.
    retry_after:
        seconds the upstream asked us to wait (Retry-After), finite and >= 0, or ``None``.
    status:
        the HTTP status the error carries (100-599), or ``None``.
    quota_left:
        what the error's rate-limit headers said: ``True`` when every budget they report has
        room left (a sporadic refusal), ``False`` when one is spent, ``None`` if they say
        nothing.
    """

    retryable: bool
    overloaded: bool = False
    timeout: bool = False
    failure: bool = True
    retry_after: float | None = None
    status: int | None = None
    quota_left: bool | None = None

    def __post_init__(self) -> None:
        for name in ("retryable", "overloaded", "timeout", "failure"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ConfigError(f"ErrorInfo({name}=...) must be True or False, got {value!r}")
        seconds = self.retry_after
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ConfigError(
                f"ErrorInfo(retry_after=...) must be a finite number of seconds >= 0 or None, "
                f"got {seconds!r}"
            )
        if seconds is not None:
            object.__setattr__(self, "retry_after", float(seconds))
        status = self.status
        if status is not None and (type(status) is not int or not 100 <= status <= 599):
            raise ConfigError(
                f"ErrorInfo(status=...) must be an HTTP status 100-599 or None, got {status!r}"
            )
        if self.quota_left is not None and not isinstance(self.quota_left, bool):
            raise ConfigError(
                f"ErrorInfo(quota_left=...) must be True, False or None, got {self.quota_left!r}"
            )
