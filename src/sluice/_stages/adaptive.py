"""The adaptive concurrency controller: samples in, limit changes out.

The rules are described in `sluice.policies.adaptive`, beside the config they run on.

Pure: time is passed in and nothing waits, so every rule is testable without an event loop.

    controller = AdaptiveLimit(Adaptive(initial=8))
    new_limit = controller.on_outcome(now, latency, in_flight, error=None)   # or None
"""

from __future__ import annotations

import math
from collections import deque

from .._classify import ErrorInfo
from ..policies.adaptive import Adaptive, AdaptiveStatistics, LimitChange, is_drop

__all__ = ["AdaptiveLimit"]

# Phases of the controller.
_START = "start"  # waiting for the first busy window
_PROBE = "probe"  # halving the limit while latency falls with it
_SLOW_START = "slow start"  # doubling until the first congestion signal
_STEADY = "steady"  # additive increase, cuts on drops and on rising latency

# Long clean growth resumes doubling: this many probes up in a row, and this much above the
# limit the last cut left (a sawtooth around capacity stays well below it).
_RESUME_PROBES = 8
_RESUME_GROWTH = 1.5

# An epoch of the baseline also ends after this many windows: the minimum of ever more noisy
# windows drifts ever lower, and a baseline must be able to rise when the upstream slows down.
_EPOCH_WINDOWS = 16

# Smoothing of the latency spread across windows; how many latencies a window lasts at least;
# the largest window (in ``window`` units) a noisy upstream can call for.
_SMOOTHING = 0.25
_SPAN = 3.0
_MAX_WINDOWS = 50

# Start times are recomputed as ``now - latency``; allow for the rounding of that subtraction.
_EPSILON = 1e-9


class _Baseline:
    """The unloaded latency: the lowest window latency of the current and the previous epoch.

    A window counts if it is faster than the baseline, or ran at no more load than the window
    that set it. A slower window at a higher load is the queueing to detect, not a new normal:
    letting it in would raise the baseline with the limit, step by step, without end.
    """

    __slots__ = ("current", "previous", "windows")

    def __init__(self) -> None:
        self.current = (math.inf, math.inf)  # (latency, peak in flight) of the best window
        self.previous = (math.inf, math.inf)
        self.windows = 0

    @property
    def latency(self) -> float:
        return min(self.current[0], self.previous[0])

    def add(self, latency: float, load: float) -> None:
        self.windows += 1
        best = min(self.current, self.previous)
        if (latency < best[0] or load <= best[1]) and latency < self.current[0]:
            self.current = (latency, load)

    def roll(self) -> None:
        """Start a new epoch. One in which no window counted is kept, so the baseline never
        empties and only measurements at a comparable load can replace it."""
        if self.current[0] < math.inf:
            self.previous, self.current = self.current, (math.inf, math.inf)
        self.windows = 0


class AdaptiveLimit:
    """The controller: samples in, limit changes out. Pure: time is passed in, nothing waits.

    controller = AdaptiveLimit(Adaptive(initial=8))
    controller.on_outcome(now, latency, in_flight, error=None)  # -> new limit or None
    """

    __slots__ = (
        "_baseline",
        "_changed_at",
        "_config",
        "_cut_at",
        "_drops",
        "_history",
        "_latencies",
        "_latency_sum",
        "_limit",
        "_load_peak",
        "_needed",
        "_opened",
        "_phase",
        "_probe_last",
        "_probe_origin",
        "_probes_up",
        "_recent",
        "_settled",
        "_spread",
        "_trusted",
    )

    def __init__(self, config: Adaptive) -> None:
        self._config = config
        self._limit = float(config.initial)
        self._phase = _START
        self._changed_at = -math.inf  # samples of attempts started earlier are stale
        self._cut_at = -math.inf  # drops of attempts started earlier were already answered
        self._latencies: list[float] = []
        self._latency_sum = 0.0
        self._opened = math.inf  # when the earliest call of the window started
        self._load_peak = 0
        self._baseline = _Baseline()
        self._trusted = math.inf  # the baseline as last confirmed; a rise beyond it is probed
        self._spread: float | None = None  # relative spread of one latency sample
        self._needed = config.window  # samples per window
        self._recent: float | None = None
        self._probe_origin = (0.0, 0.0, 0.0)  # (limit, peak in flight, latency) before probing
        self._probe_last = 0.0
        self._probes_up = 0
        self._settled = float(config.initial)  # the limit the last cut left
        self._drops = 0
        self._history: deque[LimitChange] = deque(maxlen=config.history)

    @property
    def config(self) -> Adaptive:
        return self._config

    @property
    def limit(self) -> int:
        return int(self._limit)

    def on_outcome(
        self,
        now: float,
        latency: float,
        in_flight: int,
        error: BaseException | None,
        info: ErrorInfo | None = None,
    ) -> int | None:
        """Feed one finished attempt: ``error`` is ``None`` on success (``info``: the gate's
        classification of it). Errors that are not drops (see `is_drop`) are ignored.
        Returns the new limit when it changed."""
        if error is None:
            return self.on_sample(now, latency, in_flight)
        if is_drop(error, info):
            return self.on_sample(now, latency, in_flight, dropped=True)
        return None

    def on_sample(
        self, now: float, latency: float, in_flight: int, dropped: bool = False
    ) -> int | None:
        """Feed one sample (``in_flight`` counted when the attempt started, itself included).
        Returns the new limit when it changed, else ``None``."""
        started = now - latency
        # An attempt admitted under a higher limit (more in flight than the limit allows now,
        # or started before the last change) describes a load that no longer applies.
        stale = in_flight > self._limit
        if dropped:
            if stale or started < self._cut_at - _EPSILON:
                return None
            self._drops += 1
            self._cut_at = now
            self._phase = _STEADY
            self._probes_up = 0
            self._settled = max(self._config.min, self._limit * self._config.backoff)
            return self._set(now, self._settled, "drop")
        if stale or started < self._changed_at - _EPSILON:
            return None
        self._latencies.append(latency)
        self._latency_sum += latency
        if started < self._opened:
            self._opened = started
        if in_flight > self._load_peak:
            self._load_peak = in_flight
        count = len(self._latencies)
        if count < self._needed or 2 * count < self._limit:
            return None
        if now - self._opened < _SPAN * self._latency_sum / count:
            # The first calls to end are the quick ones; the slow ones started with them are
            # still running. Waiting a few latencies lets them in, so the median is not low.
            return None
        return self._decide(now)

    def statistics(self) -> AdaptiveStatistics:
        baseline = self._baseline.latency
        return AdaptiveStatistics(
            limit=self.limit,
            phase=self._phase,
            baseline_latency=None if math.isinf(baseline) else baseline,
            recent_latency=self._recent,
            drops=self._drops,
            history=tuple(self._history),
        )

    # ------------------------------------------------------------------ windows
    def _decide(self, now: float) -> int | None:
        ordered = sorted(self._latencies)
        count = len(ordered)
        latency = ordered[count // 2]
        warming_up = self._spread is None
        noise = self._measure_noise(ordered, latency)
        self._recent = latency
        if warming_up and self._phase == _START:
            # Calls that all started together end quickest first: however long it waits, the
            # first window is biased low, so it only calibrates the noise.
            self._clear_window()
            return None
        # The peak, not the mean: a window that began with a burst (all callers arriving at
        # once) counts in-flight values rising from 1 although every call ran at full load.
        load = self._load_peak
        busy = 2 * load >= self._limit  # growth needs the limit to be in use
        self._clear_window()
        self._baseline.add(latency, load)
        baseline = self._baseline.latency
        tolerance = self._config.tolerance
        limit = self._limit
        can_halve = tolerance is not None and limit / 2 >= self._config.min
        # A rise must clear the tolerance and the noise: two standard errors of a window
        # median, against a baseline that is itself the lowest of several noisy windows.
        rise = 1.0 if tolerance is None else 1 + tolerance + 2 * noise

        if self._phase == _START:
            if not can_halve:
                self._phase = _SLOW_START
            elif not busy:
                return None
            else:
                return self._probe(now, load, latency)
        if self._phase == _PROBE:
            assert tolerance is not None
            if latency * rise < self._probe_last and can_halve:
                self._probe_last = latency  # still falling with the load: go lower
                return self._set(now, limit / 2, "baseline probe")
            self._trusted = baseline
            origin_limit, origin_load, origin_latency = self._probe_origin
            if origin_latency > baseline * rise:
                # The limit probed from queued: go to the load served at baseline latency.
                self._phase = _STEADY
                self._settled = max(limit, origin_load * baseline / origin_latency)
            else:
                # It did not: the baseline is right, and the capacity is to be found again.
                self._phase = _SLOW_START
                self._settled = origin_limit
            return self._set(now, self._settled, "baseline found")

        if tolerance is not None and baseline > self._trusted * rise and can_halve:
            # The baseline rose: the upstream became slower for good, or its capacity fell
            # and the windows after a cut still queued. Only a lower load tells them apart.
            return self._probe(now, load, latency)
        self._trusted = min(self._trusted, baseline)
        if tolerance is not None and latency > baseline * rise:
            # Little's law: the load the upstream serves at baseline latency.
            target = load * baseline / latency
            new = max(limit / 2, min(target, limit * self._config.backoff))
            self._phase = _STEADY
            self._probes_up = 0
            self._settled = new
            self._cut_at = now
            self._baseline.roll()
            return self._set(now, new, "latency rising")
        if self._baseline.windows >= _EPOCH_WINDOWS:
            self._baseline.roll()
        if not busy:
            return None
        if self._phase == _SLOW_START:
            return self._set(now, limit * 2, "slow start")
        self._probes_up += 1
        if self._probes_up >= _RESUME_PROBES and limit + 1 >= self._settled * _RESUME_GROWTH:
            self._phase = _SLOW_START
        return self._set(now, limit + 1, "probe up")

    def _measure_noise(self, ordered: list[float], median: float) -> float:
        """The relative standard error of this window's median, and the window size that
        keeps it within a third of the tolerance.

        The error comes from the order statistics around the median (about one standard error
        each side, whatever the distribution); it is kept per sample, smoothed across
        windows, so that a noisy upstream gets larger windows rather than false alarms.
        """
        count = len(ordered)
        if median > 0:
            middle, reach = count // 2, max(1, round(math.sqrt(count) / 2))
            spread = ordered[min(count - 1, middle + reach)] - ordered[max(0, middle - reach)]
            per_sample = spread / 2 / median * math.sqrt(count)
            if self._spread is None:
                self._spread = per_sample
            else:
                self._spread += _SMOOTHING * (per_sample - self._spread)
        spread = self._spread or 0.0
        tolerance = self._config.tolerance
        if tolerance is not None:
            wanted = math.ceil((3 * spread / tolerance) ** 2)
            self._needed = max(self._config.window, min(wanted, _MAX_WINDOWS * self._config.window))
        return spread / math.sqrt(count)

    def _probe(self, now: float, load: int, latency: float) -> int | None:
        """Halve the limit for as long as latency falls with the load (see `_decide`)."""
        self._phase = _PROBE
        self._probes_up = 0
        self._probe_origin = (self._limit, float(load), latency)
        self._probe_last = latency
        return self._set(now, self._limit / 2, "baseline probe")

    def _clear_window(self) -> None:
        self._latencies.clear()
        self._latency_sum = 0.0
        self._opened = math.inf
        self._load_peak = 0

    def _set(self, now: float, value: float, reason: str) -> int | None:
        config = self._config
        old = int(self._limit)
        self._limit = min(float(config.max), max(float(config.min), value))
        new = int(self._limit)
        if new == old:
            return None
        self._changed_at = now
        self._clear_window()
        self._history.append(LimitChange(now, old, new, reason))
        return new
