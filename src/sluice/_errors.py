"""The exception tree of sluice.

Every error sluice raises on its own account derives from `SluiceError`::

    SluiceError
     ├── ConfigError            (also ValueError) bad configuration, raised at construction
     ├── GateClosedError        the gate was closed; nothing was started
     ├── RejectedError          refused before the call started; the upstream saw nothing
     │    ├── CircuitOpenError  the breaker is open (or its half-open probes are all busy)
     │    └── OverloadedError   the wait queue is full, or no permit came in time
     ├── SluiceTimeoutError     (also TimeoutError)
     │    ├── AttemptTimeout    one attempt ran past Timeout(attempt=...); retryable
     │    └── DeadlineExceeded  the total budget (this gate's or an enclosing one's) ran out
     └── AllFailedError         (also ExceptionGroup) every target of `Gate.race` failed

Errors raised by the called function itself pass through unchanged: sluice never wraps them.
When retries were involved, the last underlying error is raised with the attempt history
attached (see `attempt_history`).

Three attributes form the *error protocol* that policies read from any exception, so upstream
errors (the LLM client's, or your own) can steer sluice without subclassing anything here:

- ``retryable: bool`` overrides the default classification (timeouts and connection errors);
- ``retry_after: float | None`` seconds the upstream asked us to wait;
- ``overloaded: bool`` marks a load-shedding signal (429, 503) for adaptive concurrency.

`asyncio.CancelledError` is never caught as a failure, never retried and never counted.
"""

from __future__ import annotations

__all__ = [
    "AttemptTimeout",
    "CircuitOpenError",
    "ConfigError",
    "DeadlineExceeded",
    "GateClosedError",
    "OverloadedError",
    "RejectedError",
    "SluiceError",
    "SluiceTimeoutError",
]


class SluiceError(Exception):
    """Base class of every error sluice raises itself."""


class ConfigError(SluiceError, ValueError):
    """A policy or gate was configured with a value it cannot work with.

    The message names the parameter, the value received and what is accepted.
    """


class GateClosedError(SluiceError, RuntimeError):
    """The gate was closed; calls are refused without being started."""

    retryable = False


class RejectedError(SluiceError):
    """The call was refused before it started: the upstream never saw it.

    Rejections are not failures: they do not count against a circuit breaker, and they are not
    retried by default (retrying a local refusal only adds load).
    """

    retryable = False
    overloaded = False

    def __init__(self, message: str, *, gate: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.gate = gate
        self.retry_after = retry_after


class CircuitOpenError(RejectedError):
    """The circuit breaker is open; ``retry_after`` says when it will admit a probe."""

    retry_after: float


class OverloadedError(RejectedError):
    """No concurrency permit: the wait queue is full, ``max_wait`` passed, or the line stalled.

    ``reason`` is ``"queue_full"``, ``"max_wait"``, or ``"stalled"``: no permit came back for
    as long as the attempt timeout, because work that outlived its timeout holds them all
    (threads stuck in blocking calls keep their permits until they return).
    """

    overloaded = True

    def __init__(self, message: str, *, gate: str, reason: str) -> None:
        super().__init__(message, gate=gate)
        self.reason = reason


class SluiceTimeoutError(SluiceError, TimeoutError):
    """A sluice time limit ran out. Catching the built-in `TimeoutError` catches it too."""

    def __init__(self, message: str, *, gate: str, timeout: float) -> None:
        super().__init__(message)
        self.gate = gate
        self.timeout = timeout


class AttemptTimeout(SluiceTimeoutError):
    """One attempt ran longer than ``Timeout(attempt=...)``. Retryable: the next may be luckier."""

    retryable = True


class DeadlineExceeded(SluiceTimeoutError):
    """The total time budget ran out (this gate's ``Timeout(total=...)`` or an enclosing one).

    Not retryable: there is no time left to retry in. Raised at once when the gate could only
    admit the call after the deadline (a pause, a rate slot); ``retry_after`` then says when
    it would have (``None`` otherwise).
    """

    retryable = False

    def __init__(
        self, message: str, *, gate: str, timeout: float, retry_after: float | None = None
    ) -> None:
        super().__init__(message, gate=gate, timeout=timeout)
        self.retry_after = retry_after
