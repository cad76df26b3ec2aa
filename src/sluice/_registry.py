"""Every live gate, held weakly, so that observers (a metrics exporter) can find them.

A gate registers itself once, when it is made: one weak reference, nothing on a call's path.
The registry never keeps a gate alive; a gate that is garbage-collected leaves it.

    gate = Gate("llm")                   # registered by its constructor
    names = [g.name for g in live_gates()]
    assert "llm" in names
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol

from ._stats import GateStatistics

__all__ = ["Observable", "live_gates", "register"]


class Observable(Protocol):
    """What an observer reads of a gate: its name and a statistics snapshot."""

    @property
    def name(self) -> str: ...

    def statistics(self) -> GateStatistics: ...


_GATES: weakref.WeakSet[Observable] = weakref.WeakSet()
# Gates may be made on one thread while a scrape lists them on another.
_LOCK = threading.Lock()


def register(gate: Observable) -> None:
    """Hold ``gate`` weakly until it is garbage-collected."""
    with _LOCK:
        _GATES.add(gate)


def live_gates() -> list[Observable]:
    """The gates alive now, in no particular order."""
    with _LOCK:
        return list(_GATES)
