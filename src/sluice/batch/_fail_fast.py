"""Stopping a run that cannot succeed: a wrong API key or a wrong model fails every request,
and sending the rest would only repeat that failure thousands of times.

fail_fast = FailFast()
fail_fast.failed(401, "invalid API key")   # None, None, then the reason to stop on the third
fail_fast.succeeded()                        # one success: the run is not broken as a whole
"""

from __future__ import annotations

__all__ = ["FAIL_FAST_AFTER", "SETUP_STATUSES", "FailFast", "fixed_outside_the_input"]

# Statuses that say the run's setup is wrong (key, permissions, model or URL), not a request.
SETUP_STATUSES = {401: "the API key", 403: "the key's permissions", 404: "the model or URL"}
# Failures with one of them before any success that stop the run.
FAIL_FAST_AFTER = 3


def fixed_outside_the_input(status: int | None) -> bool:
    """Whether a failure with ``status`` goes away once the setup is fixed, the input
    unchanged (a key or its permissions), so a later run sends the request again."""
    return status in (401, 403)


class FailFast:
    """Counts setup failures until the first success; says when to stop."""

    __slots__ = ("_answered", "_count", "_status")

    def __init__(self) -> None:
        self._answered = False
        self._count = 0
        self._status: int | None = None

    def succeeded(self) -> None:
        self._answered = True

    def failed(self, status: int | None, message: str) -> str | None:
        """Record a failure; the reason to stop the run, or None to go on."""
        if self._answered or status not in SETUP_STATUSES:
            return None
        if status != self._status:
            self._status, self._count = status, 0
        self._count += 1
        if self._count < FAIL_FAST_AFTER:
            return None
        return (
            f"the first {self._count} requests failed with HTTP {status} ({message}): check "
            f"{SETUP_STATUSES[status]}, then run the same command again to resume"
        )
