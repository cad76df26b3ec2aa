"""Telling the application that sluice runs degraded: a store failing over to misses or to
local state keeps calls working, and so goes unnoticed unless someone is told.

A library only logs; the application decides where logs go. sluice's logger has a
`logging.NullHandler`, so without logging configured its warnings go nowhere. `degraded`
logs the warning (its caller limits how often), and when no handler of the application would
show it, also issues a `DegradedWarning` through `warnings`, which Python shows on stderr by
default and which the application can filter, or turn into an error in its tests; at most once
a minute per subject, so a store that stays down does not flood anyone.

    degraded("cache 'llm'", "store get failed (ConnectionError: refused); serving misses")
"""

from __future__ import annotations

import logging
import time
import warnings

__all__ = ["DegradedWarning", "degraded"]

logger = logging.getLogger("sluice")

_INTERVAL = 60.0  # seconds between two warnings about the same subject
_last_warned: dict[str, float] = {}


class DegradedWarning(RuntimeWarning):
    """sluice keeps working, but worse than configured (a store fails; calls fall back to
    misses or to this process's own state). Shown once a minute per subject at most."""


def _shown_by_logging(log: logging.Logger) -> bool:
    """Whether a handler the application installed would show a warning of ``log``."""
    if not log.isEnabledFor(logging.WARNING):
        return False
    current: logging.Logger | None = log
    while current is not None:
        for handler in current.handlers:
            if not isinstance(handler, logging.NullHandler) and handler.level <= logging.WARNING:
                return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def degraded(subject: str, message: str) -> None:
    """Report that ``subject`` runs degraded: a log warning (the caller limits how often),
    and a `DegradedWarning` when the application's logging would not show it, at most once a
    minute per subject."""
    text = f"{subject}: {message}"
    logger.warning("%s", text)
    if _shown_by_logging(logger):
        return
    now = time.monotonic()
    last = _last_warned.get(subject)
    if last is not None and now - last < _INTERVAL:
        return
    _last_warned[subject] = now
    warnings.warn(text, DegradedWarning, stacklevel=2)
