"""The simulator's own counters, its emission lateness, and their Prometheus text form.

Lateness is how long after its scheduled instant a token (or a whole non-streamed answer)
actually went out. It is the simulator's fidelity: when it grows, the latency clients observe
is the simulator's doing, not the model's. Quantiles cover the most recent emissions.

    metrics = SimMetrics.from_prometheus(text)   # text from GET /metrics
    metrics.lateness_p99, metrics.status_count(429)
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .._stats import percentile

__all__ = ["MetricsRecorder", "SimMetrics"]

_WINDOW = 65_536  # lateness samples kept for quantiles (512 KiB)
_LINE_RE = re.compile(r"^([a-z_]+)(?:\{(.*)\})?\s+(\S+)$")
_LABEL_RE = re.compile(r'(\w+)="([^"]*)"')


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile (``q`` in [0, 1]) of a sorted list, 0.0 when empty."""
    return percentile(ordered, q * 100) if ordered else 0.0


@dataclass(frozen=True, slots=True)
class SimMetrics:
    """A snapshot of the simulator's metrics. Lateness figures are in seconds.

    metrics = sim.metrics()                     # SimServer or SimProcess
    metrics.status_count(200), metrics.faults   # {"hang": 2, ...}
    metrics.lateness_p99                        # fidelity of the emission schedule
    """

    requests: Mapping[tuple[str, int], int] = field(default_factory=dict)
    faults: Mapping[str, int] = field(default_factory=dict)
    active: int = 0
    queued: int = 0
    peak_active: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lateness_count: int = 0
    lateness_p50: float = 0.0
    lateness_p99: float = 0.0
    lateness_max: float = 0.0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def status_count(self, status: int) -> int:
        """Responses sent with ``status``, over all endpoints."""
        return sum(n for (_, code), n in self.requests.items() if code == status)

    @classmethod
    def from_prometheus(cls, text: str) -> SimMetrics:
        """Parse the text served at ``/metrics`` back into a snapshot."""
        requests: dict[tuple[str, int], int] = {}
        faults: dict[str, int] = {}
        values: dict[str, float] = {}
        for line in text.splitlines():
            match = _LINE_RE.match(line)
            if match is None:
                continue
            name, raw_labels, raw_value = match.groups()
            labels = dict(_LABEL_RE.findall(raw_labels or ""))
            value = float(raw_value)
            if name == "sim_requests_total":
                requests[(labels["endpoint"], int(labels["status"]))] = int(value)
            elif name == "sim_faults_total":
                faults[labels["fault"]] = int(value)
            elif name == "sim_tokens_total":
                values[f"{labels['kind']}_tokens"] = value
            elif name == "sim_emission_lateness_seconds" and "quantile" in labels:
                values[f"lateness_q{labels['quantile']}"] = value
            else:
                values[name] = value
        return cls(
            requests=MappingProxyType(requests),
            faults=MappingProxyType(faults),
            active=int(values.get("sim_requests_active", 0)),
            queued=int(values.get("sim_requests_queued", 0)),
            peak_active=int(values.get("sim_requests_active_peak", 0)),
            prompt_tokens=int(values.get("prompt_tokens", 0)),
            completion_tokens=int(values.get("completion_tokens", 0)),
            lateness_count=int(values.get("sim_emission_lateness_seconds_count", 0)),
            lateness_p50=values.get("lateness_q0.5", 0.0),
            lateness_p99=values.get("lateness_q0.99", 0.0),
            lateness_max=values.get("lateness_q1", 0.0),
        )


class MetricsRecorder:
    """Mutable counters updated on the request path; cheap to update, rendered on demand."""

    __slots__ = (
        "_late",
        "_late_count",
        "_late_next",
        "_late_sum",
        "completion_tokens",
        "faults",
        "prompt_tokens",
        "queue_wait_count",
        "queue_wait_sum",
        "requests",
    )

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.faults: dict[str, int] = {}
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.queue_wait_sum = 0.0
        self.queue_wait_count = 0
        self._late = array("d", bytes(8 * _WINDOW))
        self._late_next = 0
        self._late_count = 0
        self._late_sum = 0.0

    def response(self, endpoint: str, status: int) -> None:
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1

    def admitted(self, queue_wait: float, prompt_tokens: int) -> None:
        """A request left the queue after ``queue_wait`` seconds, with its prompt tokens."""
        self.queue_wait_sum += queue_wait
        self.queue_wait_count += 1
        self.prompt_tokens += prompt_tokens

    def fault(self, name: str) -> None:
        self.faults[name] = self.faults.get(name, 0) + 1

    def lateness(self, seconds: float) -> None:
        self._late[self._late_next] = seconds
        self._late_next = (self._late_next + 1) % _WINDOW
        self._late_count += 1
        self._late_sum += seconds

    def _recent_lateness(self) -> list[float]:
        filled = min(self._late_count, _WINDOW)
        return sorted(self._late[:filled])

    def snapshot(self, active: int, queued: int, peak_active: int) -> SimMetrics:
        recent = self._recent_lateness()
        return SimMetrics(
            requests=MappingProxyType(dict(self.requests)),
            faults=MappingProxyType(dict(self.faults)),
            active=active,
            queued=queued,
            peak_active=peak_active,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            lateness_count=self._late_count,
            lateness_p50=_quantile(recent, 0.5),
            lateness_p99=_quantile(recent, 0.99),
            lateness_max=recent[-1] if recent else 0.0,
        )

    def render(self, active: int, queued: int, peak_active: int) -> bytes:
        """Prometheus text exposition format, version 0.0.4."""
        out = [
            "# HELP sim_requests_total Responses sent, by endpoint and status.",
            "# TYPE sim_requests_total counter",
        ]
        for (endpoint, status), count in sorted(self.requests.items()):
            out.append(f'sim_requests_total{{endpoint="{endpoint}",status="{status}"}} {count}')
        out += [
            "# HELP sim_requests_active Requests being served now.",
            "# TYPE sim_requests_active gauge",
            f"sim_requests_active {active}",
            "# HELP sim_requests_queued Requests waiting for a slot now.",
            "# TYPE sim_requests_queued gauge",
            f"sim_requests_queued {queued}",
            "# HELP sim_requests_active_peak Most requests ever served at once.",
            "# TYPE sim_requests_active_peak gauge",
            f"sim_requests_active_peak {peak_active}",
            "# HELP sim_faults_total Faults injected, by fault.",
            "# TYPE sim_faults_total counter",
        ]
        out += [f'sim_faults_total{{fault="{n}"}} {c}' for n, c in sorted(self.faults.items())]
        out += [
            "# HELP sim_tokens_total Tokens accounted in usage, by kind.",
            "# TYPE sim_tokens_total counter",
            f'sim_tokens_total{{kind="prompt"}} {self.prompt_tokens}',
            f'sim_tokens_total{{kind="completion"}} {self.completion_tokens}',
            "# HELP sim_queue_wait_seconds Time admitted requests waited for a slot.",
            "# TYPE sim_queue_wait_seconds summary",
            f"sim_queue_wait_seconds_sum {self.queue_wait_sum!r}",
            f"sim_queue_wait_seconds_count {self.queue_wait_count}",
            "# HELP sim_emission_lateness_seconds Actual minus scheduled emission time"
            f" (quantiles over the last {_WINDOW} emissions).",
            "# TYPE sim_emission_lateness_seconds summary",
        ]
        recent = self._recent_lateness()
        for q in ("0.5", "0.9", "0.99", "1"):
            value = _quantile(recent, float(q))
            out.append(f'sim_emission_lateness_seconds{{quantile="{q}"}} {value!r}')
        out += [
            f"sim_emission_lateness_seconds_sum {self._late_sum!r}",
            f"sim_emission_lateness_seconds_count {self._late_count}",
        ]
        return ("\n".join(out) + "\n").encode()
