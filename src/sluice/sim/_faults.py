"""Fault injection: which fault (if any) a request gets.

A request names its fault with the header ``x-sim-fault: <name>`` (deterministic tests;
``none`` forces a clean answer); otherwise each configured fault strikes with its probability,
drawn from an RNG seeded by the config, so a run with the same seed and the same request order
sees the same faults.

=========  =====================================================================
fault      behaviour
=========  =====================================================================
400        immediate 400 ``invalid_request_error``
429        immediate 429 ``rate_limit_exceeded`` with Retry-After
500        immediate 500 ``server_error``
503        immediate 503 with Retry-After
529        immediate 529 ``overloaded_error`` with Retry-After
hang       nothing is sent for ``max_hang`` s (or until the client leaves), then the answer
stall      half the answer, a pause of ``max_hang`` s (or until the client leaves), the rest
reset      half the answer, then the connection is dropped
truncate   half the answer, then a clean end without ``finish_reason``, usage or ``[DONE]``
malformed  a chunk that is not valid JSON (a non-streamed body that is not valid JSON)
slow       tokens drip every ``slow_itl`` s (or slower, if ``itl`` is)
refusal    a chat answer is a refusal (``message.refusal``, content null); others are clean
length     the answer stops at half its tokens with ``finish_reason: "length"`` (JSON cut off)
=========  =====================================================================

    picker = FaultPicker({"500": 0.1}, seed=1)
    picker.pick(b"hang")      # "hang", whatever the dice say
    picker.pick(None)         # "500" about one time in ten
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Mapping

from ._config import FAULT_NAMES

__all__ = ["IMMEDIATE_FAULTS", "FaultPicker", "UnknownFaultError"]

IMMEDIATE_FAULTS = frozenset({"400", "429", "500", "503", "529"})
_BY_NAME = {name.encode(): name for name in FAULT_NAMES}


class UnknownFaultError(ValueError):
    """The ``x-sim-fault`` header named a fault the simulator does not have."""

    def __init__(self, value: bytes) -> None:
        super().__init__(
            f"unknown x-sim-fault {value.decode(errors='replace')!r}; "
            f"known faults: {', '.join(FAULT_NAMES)}, none"
        )


class FaultPicker:
    """Forced faults from a header, random faults from seeded probabilities."""

    __slots__ = ("_cumulative", "_names", "_rng")

    def __init__(self, probabilities: Mapping[str, float], seed: int) -> None:
        self._names = tuple(probabilities)
        self._cumulative = tuple(itertools.accumulate(probabilities.values()))
        # A separate stream from latency jitter, so changing one does not reshuffle the other.
        self._rng = random.Random(f"faults:{seed}")

    def pick(self, forced: bytes | None) -> str | None:
        """The fault for this request, or None; ``forced`` is the raw header value."""
        if forced is not None:
            value = forced.strip().lower()
            if value == b"none":
                return None
            name = _BY_NAME.get(value)
            if name is None:
                raise UnknownFaultError(forced)
            return name
        if not self._names:
            return None
        roll = self._rng.random()
        index = bisect.bisect_right(self._cumulative, roll)
        return self._names[index] if index < len(self._names) else None
