"""Statistics of one load level, computed from raw samples. Pure functions, no I/O.

Percentile definition (nearest rank): the p-th percentile of n sorted samples is the sample at
rank ``ceil(p / 100 * n)`` (1-based), i.e. the smallest sample with at least p % of all samples
at or below it. It is always an observed value (no interpolation); p100 is the maximum.
Samples are raw floats in seconds from a monotonic clock (nanosecond resolution), so there is
no bucketing error.

    percentile(sorted([15, 20, 35, 40, 50]), 40)   # 20
    stats = level_stats(samples, window=10.0, slo=Slo(ttft=0.5))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from .._stats import percentile
from ._samples import OK, SampleSet

__all__ = [
    "PERCENTILE_DEFINITION",
    "Distribution",
    "LevelStats",
    "Slo",
    "StreamStats",
    "distribution",
    "level_stats",
    "parse_slo",
    "percentile",
]

PERCENTILE_DEFINITION = (
    "nearest rank over raw samples: the p-th percentile of n sorted samples is the sample at "
    "rank ceil(p/100 * n), the smallest value with at least p % of samples at or below it"
)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of a set of durations in seconds (nearest-rank percentiles)."""

    count: int
    mean: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


def distribution(values: Iterable[float]) -> Distribution | None:
    """Summary of ``values`` (any order), or None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return Distribution(
        count=len(ordered),
        mean=math.fsum(ordered) / len(ordered),
        min=ordered[0],
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        max=ordered[-1],
    )


@dataclass(frozen=True, slots=True)
class Slo:
    """Service-level objectives a request must all meet to count towards goodput (seconds).

    ``ttft``: time to first token; ``tpot``: time per output token after the first;
    ``e2e``: whole request. None: no objective on that figure.
    """

    ttft: float | None = None
    tpot: float | None = None
    e2e: float | None = None

    def __post_init__(self) -> None:
        for name in ("ttft", "tpot", "e2e"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"SLO {name} must be a positive number of seconds, got {value!r}")

    @property
    def needs_stream(self) -> bool:
        return self.ttft is not None or self.tpot is not None

    def describe(self) -> str:
        parts = [
            f"{name} <= {value * 1000:g} ms"
            for name, value in (("ttft", self.ttft), ("tpot", self.tpot), ("e2e", self.e2e))
            if value is not None
        ]
        return ", ".join(parts)


_UNITS = {"ms": 1e-3, "s": 1.0, "us": 1e-6}


def parse_slo(text: str) -> Slo:
    """``"ttft=0.5,e2e=5"`` or ``"ttft=500ms,tpot=50ms"`` (plain numbers are seconds)."""
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, raw = item.partition("=")
        name = name.strip().lower().replace("e2el", "e2e")
        if not sep or name not in ("ttft", "tpot", "e2e"):
            raise ValueError(f"SLO items are ttft=, tpot= or e2e= (seconds), got {item!r}")
        raw = raw.strip().lower()
        scale = 1.0
        for unit in ("ms", "us", "s"):
            if raw.endswith(unit):
                raw, scale = raw[: -len(unit)], _UNITS[unit]
                break
        try:
            values[name] = float(raw) * scale
        except ValueError:
            raise ValueError(f"SLO {name} must be a duration like 0.5 or 500ms") from None
    if not values:
        raise ValueError("an SLO needs at least one of ttft=, tpot=, e2e=")
    return Slo(**values)


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Token-level figures of the successful streamed requests."""

    ttft: Distribution | None
    tpot: Distribution | None
    itl: Distribution | None
    output_tokens: int
    output_tokens_per_s: float


@dataclass(frozen=True, slots=True)
class LevelStats:
    """Everything measured at one level; rates are per second of the measurement window."""

    requests: int
    successes: int
    success_rate: float | None
    failures: dict[str, int]
    window_s: float
    rps: float
    ok_rps: float
    latency: Distribution | None
    service_time: Distribution | None
    stream: StreamStats | None
    goodput: int | None = None
    goodput_rps: float | None = None
    goodput_share: float | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _tpot(e2e: float, ttft: float, tokens: int) -> float:
    """(E2E - TTFT) / (tokens - 1); 0 for answers of at most one token."""
    return (e2e - ttft) / (tokens - 1) if tokens > 1 else 0.0


def level_stats(
    samples: SampleSet, window: float, *, stream: bool = False, slo: Slo | None = None
) -> LevelStats:
    """Statistics of a level from its raw samples over a measurement window of ``window`` s.

    Latency figures cover successful requests only (failures are counted by class). Requests
    per second = requests / window; successful RPS = successes / window; goodput = successful
    requests meeting every SLO / window.
    """
    if window <= 0:
        raise ValueError(f"window must be > 0 s, got {window!r}")
    requests = len(samples)
    successes = samples.successes()
    stream_stats = None
    ok_rows = [
        (end - start, ttft, tokens)
        for start, end, ttft, tokens, outcome in zip(
            samples.start, samples.end, samples.ttft, samples.tokens, samples.outcome, strict=True
        )
        if outcome == OK
    ]
    if stream:
        ttfts = [ttft for _, ttft, _ in ok_rows if not math.isnan(ttft)]
        tpots = [_tpot(e2e, ttft, n) for e2e, ttft, n in ok_rows if n > 1 and not math.isnan(ttft)]
        tokens = sum(n for _, _, n in ok_rows)
        stream_stats = StreamStats(
            ttft=distribution(ttfts),
            tpot=distribution(tpots),
            itl=distribution(samples.gaps),
            output_tokens=tokens,
            output_tokens_per_s=tokens / window,
        )
    good = None
    if slo is not None:
        good = sum(1 for e2e, ttft, n in ok_rows if _meets(slo, e2e, ttft, n))
    return LevelStats(
        requests=requests,
        successes=successes,
        success_rate=successes / requests if requests else None,
        failures=samples.failures(),
        window_s=window,
        rps=requests / window,
        ok_rps=successes / window,
        latency=distribution(e2e for e2e, _, _ in ok_rows),
        service_time=distribution(samples.service_times()),
        stream=stream_stats,
        goodput=good,
        goodput_rps=None if good is None else good / window,
        goodput_share=None if good is None or not requests else good / requests,
        errors=dict(samples.errors),
    )


def _meets(slo: Slo, e2e: float, ttft: float, tokens: int) -> bool:
    if slo.e2e is not None and e2e > slo.e2e:
        return False
    if slo.ttft is not None and (math.isnan(ttft) or ttft > slo.ttft):
        return False
    return not (slo.tpot is not None and (math.isnan(ttft) or _tpot(e2e, ttft, tokens) > slo.tpot))
