"""`Call` records as the kernel leaves them for the stages, for driving stages by hand."""

from __future__ import annotations

from sluice import ErrorInfo
from sluice._core.call import Call


def noop() -> None:
    return None


def failed(
    *,
    retry_after: float | None,
    status: int | None = 429,
    overloaded: bool = True,
    started: float = 0.0,
) -> Call:
    """An attempt sent at ``started`` that failed with the signals given (a 429 by default)."""
    call = Call(noop, (), {}, None)
    call.started = started
    call.error = RuntimeError("refused")
    call.info = ErrorInfo(
        retryable=True, overloaded=overloaded, retry_after=retry_after, status=status
    )
    return call
