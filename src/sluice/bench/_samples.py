"""Raw per-request samples of one load level, stored column by column.

Columns are `array.array` so that a level of a few hundred thousand requests costs a few
megabytes, pickles compactly between processes, and merges by concatenation: statistics are
always computed from the merged raw samples, never by combining per-process percentiles.

    samples = SampleSet()
    samples.add(start=0.0, sent=0.0, end=0.2, outcome=OK, status=200)
    merged = SampleSet.merge([samples, other])
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

__all__ = [
    "FAILURE_CLASSES",
    "FAILURE_LABELS",
    "OK",
    "OUTCOMES",
    "SampleSet",
    "outcome_code",
]

# Outcome classes, in report order. "ok" is a 2xx with a complete, well-formed body (for a
# stream: at least one content chunk and the final [DONE]).
OUTCOMES: tuple[str, ...] = (
    "ok",
    "429",
    "5xx",
    "other_status",
    "timeout",
    "connection",
    "mid_stream",
    "bad_response",
)
OK = 0
FAILURE_CLASSES = OUTCOMES[1:]
FAILURE_LABELS: dict[str, str] = {
    "429": "429",
    "5xx": "5xx",
    "other_status": "other status",
    "timeout": "timeout",
    "connection": "connection",
    "mid_stream": "mid-stream",
    "bad_response": "bad response",
}
_CODES = {name: code for code, name in enumerate(OUTCOMES)}
_MAX_DETAIL = 300


def outcome_code(name: str) -> int:
    """The integer code of an outcome class name (``"ok"`` is 0)."""
    try:
        return _CODES[name]
    except KeyError:
        raise ValueError(f"unknown outcome {name!r}; known: {', '.join(OUTCOMES)}") from None


class SampleSet:
    """Every measured request of a level: when it started, was sent and ended, and how.

    ``start`` is the reference instant latency is measured from: the *scheduled* send time in
    the open model, the actual send time in the closed model. ``sent`` is the actual send
    time. ``ttft`` is NaN when no token arrived. ``gaps`` pools the inter-token gaps of every
    successful stream. ``errors`` keeps the first message seen per failure class.
    """

    __slots__ = ("end", "errors", "gaps", "outcome", "sent", "start", "status", "tokens", "ttft")

    def __init__(self) -> None:
        self.start = array("d")
        self.sent = array("d")
        self.end = array("d")
        self.outcome = array("b")
        self.status = array("h")
        self.ttft = array("d")
        self.tokens = array("q")
        self.gaps = array("d")
        self.errors: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.start)

    def add(
        self,
        *,
        start: float,
        sent: float,
        end: float,
        outcome: int,
        status: int = 0,
        ttft: float | None = None,
        tokens: int = 0,
        gaps: Sequence[float] = (),
        detail: str = "",
    ) -> None:
        """Record one finished request (times on one monotonic clock, in seconds)."""
        self.start.append(start)
        self.sent.append(sent)
        self.end.append(end)
        self.outcome.append(outcome)
        self.status.append(status)
        self.ttft.append(math.nan if ttft is None else ttft)
        self.tokens.append(tokens)
        if outcome == OK:
            self.gaps.extend(gaps)
        elif detail:
            self.errors.setdefault(OUTCOMES[outcome], detail[:_MAX_DETAIL])

    def extend(self, other: SampleSet) -> None:
        """Append every sample of ``other`` (another process's share of the same level)."""
        for name in ("start", "sent", "end", "outcome", "status", "ttft", "tokens", "gaps"):
            getattr(self, name).extend(getattr(other, name))
        for outcome, detail in other.errors.items():
            self.errors.setdefault(outcome, detail)

    @classmethod
    def merge(cls, parts: Iterable[SampleSet]) -> SampleSet:
        merged = cls()
        for part in parts:
            merged.extend(part)
        return merged

    def latencies(self, *, successful: bool = True) -> list[float]:
        """End minus reference start, per request (successful ones only by default)."""
        return [
            end - start
            for start, end, outcome in zip(self.start, self.end, self.outcome, strict=True)
            if outcome == OK or not successful
        ]

    def service_times(self) -> list[float]:
        """End minus *actual* send, per successful request (what a naive tool reports)."""
        return [
            end - sent
            for sent, end, outcome in zip(self.sent, self.end, self.outcome, strict=True)
            if outcome == OK
        ]

    def failures(self) -> dict[str, int]:
        """Failed requests per class, classes with no failure left out."""
        counts = [0] * len(OUTCOMES)
        for code in self.outcome:
            counts[code] += 1
        return {OUTCOMES[c]: n for c, n in enumerate(counts) if c != OK and n}

    def successes(self) -> int:
        return self.outcome.count(OK)
