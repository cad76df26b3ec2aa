"""Adaptive concurrency: a limit that follows what the upstream can take.

Each finished attempt is a *sample*: its latency (from the permit to the end, so waiting inside
the gate does not count), the number of attempts in flight when it started (itself included),
and whether it was a *drop*: a timeout, or an error marked ``overloaded = True`` (the HTTP
client's 429/503/529 errors, `OverloadedError`). Other errors and cancellations say nothing
about load and are ignored.

The rules, on the `AdaptiveLimit` state machine (time is passed in):

- **Drop**: multiply the limit by ``backoff``, at once. Drops of attempts admitted before that
  cut are ignored: the cut already answered them, and counting them again would collapse the
  limit after one burst.
- **Windows**: successful samples are gathered into windows; each yields its median latency
  and its peak in-flight count. A window holds at least ``window`` samples and half the limit's
  worth, lasts three latencies (the first calls to end are the quick ones; the slow ones
  started with them must be let in), and grows on a noisy upstream until the standard error of
  its median is a third of the tolerance. Samples of attempts admitted before the last change
  are discarded, so each window measures one limit.
- **Baseline** (the unloaded latency): the lowest window latency of the current and the
  previous *epoch*; an epoch ends at each cut for latency and after 16 windows. A slower window
  only counts if it ran at no more load than the window that set the baseline, so queueing
  cannot raise the baseline along with the limit.
- **Latency rising** (window latency above ``baseline * (1 + tolerance)``, plus two standard
  errors): the upstream queues. The limit goes to ``in_flight * baseline / latency``, the load
  it serves at baseline latency (Little's law), by at least ``backoff`` and at most half.
- **Growth**, only when at least half the limit was in use and latency is flat: doubling per
  window until the first cut (slow start), then one more per window (additive). After long
  clean growth (eight windows in a row, and half again what the last cut left) doubling
  resumes, so a capacity that rose is found quickly.
- **Probes**: a limit above capacity from the start never sees unloaded latency, and after a
  fall in capacity the baseline rises for the wrong reason. So after the first busy window, and
  whenever the baseline rises beyond its tolerance, the limit is halved for as long as latency
  falls with the load; it then restarts from what the probes found (the load served at
  baseline latency), or, if nothing fell, from where it was, doubling: the upstream is slower
  for good and its capacity must be found again.

Why it does not oscillate: a cut lands on the load the upstream serves at baseline latency, not
on a blind fraction, so the limit swings within about ``tolerance`` of capacity; the window
right after a cut is unloaded, which keeps the baseline honest; growth near capacity is one per
window; and one overload episode is answered once.

    controller = AdaptiveLimit(Adaptive(min=1, max=512, initial=16))
    new = controller.on_sample(now, latency=0.8, in_flight=16, dropped=False)
    if new is not None: limiter.set_limit(new)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .._classify import ErrorInfo, classify_error
from .._errors import ConfigError
from .._validate import check_int_at_least, check_optional_positive, check_positive
from .limit import Concurrency

__all__ = [
    "Adaptive",
    "AdaptiveStatistics",
    "LimitChange",
    "coerce_concurrency",
    "is_drop",
]


@dataclass(frozen=True, slots=True)
class Adaptive:
    """A concurrency limit that adapts between ``min`` and ``max``, starting at ``initial``.

    backoff:
        factor applied to the limit on a drop (timeout or overloaded error), in [0.5, 1).
    tolerance:
        how far window latency may rise over the baseline before the limit is cut (0.15 =
        15 %, plus the measured noise); ``None`` ignores latency, leaving drops as the only
        signal (pure AIMD), for upstreams whose latency says little about their load.
    window:
        minimum number of successful attempts aggregated into one decision (windows grow
        on their own when latency is noisy).
    history:
        how many limit changes statistics keep.
    max_queue, max_wait:
        bounds on waiting for a permit, as in `Concurrency`.

    Gate(concurrency="auto")                                 # these defaults
    Gate(concurrency=Adaptive(min=4, max=256, initial=32, max_wait=10.0))
    gate.statistics().adaptive.history                       # (time, old, new, reason), ...
    """

    min: int = 1
    max: int = 512
    initial: int = 16
    backoff: float = 0.9
    tolerance: float | None = 0.15
    window: int = 20
    history: int = 100
    max_queue: int | None = None
    max_wait: float | None = None

    def __post_init__(self) -> None:
        check_int_at_least("Adaptive", "min", self.min, 1)
        check_int_at_least("Adaptive", "max", self.max, self.min)
        if not isinstance(self.initial, int) or isinstance(self.initial, bool):
            raise ConfigError(f"Adaptive(initial=...) must be an integer, got {self.initial!r}")
        if not self.min <= self.initial <= self.max:
            raise ConfigError(
                f"Adaptive(initial=...) must be between min ({self.min}) and max ({self.max}), "
                f"got {self.initial!r}"
            )
        backoff = check_positive("Adaptive", "backoff", self.backoff)
        if not 0.5 <= backoff < 1:
            raise ConfigError(f"Adaptive(backoff=...) must be in [0.5, 1), got {self.backoff!r}")
        object.__setattr__(self, "backoff", backoff)
        tolerance = check_optional_positive("Adaptive", "tolerance", self.tolerance)
        object.__setattr__(self, "tolerance", tolerance)
        check_int_at_least("Adaptive", "window", self.window, 1)
        check_int_at_least("Adaptive", "history", self.history, 1)
        if self.max_queue is not None:
            check_int_at_least("Adaptive", "max_queue", self.max_queue, 0)
        wait = check_optional_positive("Adaptive", "max_wait", self.max_wait)
        object.__setattr__(self, "max_wait", wait)

    def limiter_config(self) -> Concurrency:
        """The `Concurrency` a `ConcurrencyLimiter` starts from (the limit changes later)."""
        return Concurrency(self.initial, max_queue=self.max_queue, max_wait=self.max_wait)


_ACCEPTED = (
    "an int >= 1, a sluice.Concurrency, a sluice.Adaptive, 'auto' (adaptive with defaults) "
    "or None (unbounded)"
)


def coerce_concurrency(value: object) -> Concurrency | Adaptive | None:
    """Accept every ``concurrency=`` form: an int or `Concurrency` is fixed, ``"auto"`` or an
    `Adaptive` adapts, ``None`` means unbounded.

        coerce_concurrency("auto")  # -> Adaptive()
    """
    if value is None or isinstance(value, Concurrency | Adaptive):
        return value
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return Adaptive()
        raise ConfigError(f"Gate(concurrency=...) must be {_ACCEPTED}, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        return Concurrency(value)  # which names its own rule for values below 1
    raise ConfigError(f"Gate(concurrency=...) must be {_ACCEPTED}, got {value!r}")


def is_drop(error: BaseException, info: ErrorInfo | None = None) -> bool:
    """Whether an attempt's error says the upstream is overloaded: a timeout, or an error
    classified ``overloaded`` (a 429, 503 or 529 of any client, `OverloadedError`), unless
    its rate-limit headers say a budget is spent (``quota_left`` False).
    ``info`` is the gate's classification of ``error`` (default: `sluice.classify_error`).

    A refusal for a spent budget is about the rate, not the concurrency: the rate limit
    learns from its headers and paces, and cutting the concurrency as well would leave the
    gate below the rate for many windows after the budget refills. Cancellations and other
    non-`Exception` errors are not outcomes, so never drops.
    """
    if not isinstance(error, Exception):
        return False
    if info is None:
        info = classify_error(error)
    return info.timeout or (info.overloaded and info.quota_left is not False)


class LimitChange(NamedTuple):
    """One change of the limit: when, from what, to what, and why.

    ``reason`` is one of ``"drop"``, ``"latency rising"``, ``"probe up"``, ``"slow start"``,
    ``"baseline probe"`` (a temporary halving, to measure latency at a lower load) and
    ``"baseline found"`` (the end of the probes).
    """

    time: float
    old: int
    new: int
    reason: str


@dataclass(frozen=True, slots=True)
class AdaptiveStatistics:
    """Snapshot of an adaptive limit. Latencies are seconds, ``None`` before the first window.

    ``phase`` is ``"start"``, ``"probe"``, ``"slow start"`` or ``"steady"``; ``history`` holds
    the most recent changes, oldest first; ``drops`` counts the drops that were acted on.

        for time, old, new, reason in gate.statistics().adaptive.history:
            print(f"{time:10.3f}  {old:4} -> {new:<4} {reason}")
    """

    limit: int
    phase: str
    baseline_latency: float | None
    recent_latency: float | None
    drops: int
    history: tuple[LimitChange, ...]
