"""What an upstream's answers tell the stages, read defensively.

Numbers from outside (rate-limit headers) are checked before any limit uses them, and a failed
attempt is classified by whether the upstream refused it before doing any work, in which case
the tokens booked for it were never counted there and go back to the budget.

    reported(float("nan"), least=0.0)   # None: ignored
    reported(590, least=0.0)            # 590.0
    refused_unprocessed(call)           # a 4xx, an overloaded refusal, a refused connection
"""

from __future__ import annotations

import math
import socket

from .._core.call import Call

__all__ = ["refused_unprocessed", "reported"]

# How far down an error's chain of causes to look for the connection error it wraps.
_CAUSE_DEPTH = 8


def reported(value: object, *, least: float) -> float | None:
    """``value`` as a float if it is a finite number >= ``least``, else ``None`` (ignored)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < least
    ):
        return None
    return float(value)


def refused_unprocessed(call: Call) -> bool:
    """Whether the failed attempt of ``call`` was refused before the upstream processed it:
    an ``overloaded`` refusal (429, 503), any 4xx (a bad request is refused as it arrives), or
    a connection that was never made (refused, or a host name that does not resolve)."""
    info = call.info
    if info is not None:
        if info.overloaded:
            return True
        status = info.status
        if status is not None and 400 <= status < 500:
            return True
    return _never_connected(call.error)


def _never_connected(error: BaseException | None) -> bool:
    # Clients wrap the socket's error in their own (``raise ... from``): follow the chain.
    for _ in range(_CAUSE_DEPTH):
        if error is None:
            return False
        if isinstance(error, ConnectionRefusedError | socket.gaierror):
            return True
        error = error.__cause__ or error.__context__
    return False
