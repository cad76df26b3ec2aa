"""Gate metrics for Prometheus: a collector that reads every gate's statistics at scrape time.

Nothing is counted twice and nothing runs between scrapes: each scrape takes one
`Gate.statistics()` snapshot per gate and turns it into metric families labelled by the gate's
name (see docs/metrics.md for the list). Gates are found through the registry every gate joins
when it is made (held weakly: a garbage-collected gate disappears from the next scrape), or
given explicitly. Needs the ``metrics`` extra (``prometheus_client``), imported only when used.

    collector = register_metrics()            # on prometheus_client.REGISTRY, idempotent
    gate = sluice.Gate("llm", concurrency=8)
    print(prometheus_client.generate_latest().decode())   # sluice_gate_* {gate="llm"}
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from .._registry import Observable, live_gates
from .._stats import GateStatistics
from ._families import FAMILIES, LATENCY, LATENCY_HELP

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = ["GateCollector", "register_metrics", "require_client", "unregister_metrics"]

_log = logging.getLogger("sluice.observe")

INSTALL_HINT = "pip install 'aiosluice[metrics]'"


def require_client() -> None:
    """Raise an `ImportError` that says how to install ``prometheus_client`` when it is not."""
    try:
        import prometheus_client  # noqa: F401 - only checking that it is there
    except ImportError as exc:
        raise ImportError(
            f"sluice's Prometheus metrics need prometheus_client, which is not installed: "
            f"{INSTALL_HINT}"
        ) from exc


class GateCollector:
    """A ``prometheus_client`` collector of gate statistics, read at scrape time.

    ``gates``: the gates to export (held weakly); ``None``: every live gate. Live gates that
    share a name are exported as one: counters and sizes summed, states and delays at their
    worst, latency quantiles left out (count and sum remain).

        registry = prometheus_client.CollectorRegistry()
        registry.register(GateCollector())
        text = prometheus_client.generate_latest(registry)
    """

    def __init__(self, gates: Iterable[Observable] | None = None) -> None:
        require_client()
        self._explicit: weakref.WeakSet[Observable] | None = (
            None if gates is None else weakref.WeakSet(gates)
        )

    def gates(self) -> list[Observable]:
        """The gates the next scrape reads."""
        return live_gates() if self._explicit is None else list(self._explicit)

    def describe(self) -> Iterator[Metric]:
        """The families, without samples (what a registry checks for clashing names)."""
        yield from self._families([])

    def collect(self) -> Iterator[Metric]:
        """One snapshot per gate, as metric families labelled by ``gate``."""
        snapshots = []
        for gate in self.gates():
            try:
                snapshots.append(gate.statistics())
            except Exception:  # one broken gate must not fail the whole scrape
                _log.warning("metrics: no statistics from gate %r", gate.name, exc_info=True)
        snapshots.sort(key=lambda s: s.name)
        yield from self._families(snapshots)

    def _families(self, snapshots: list[GateStatistics]) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            SummaryMetricFamily,
        )

        for spec in FAMILIES:
            labels = ["gate"] if spec.label is None else ["gate", spec.label]
            family = (CounterMetricFamily if spec.counter else GaugeMetricFamily)(
                spec.name, spec.help, labels=labels
            )
            merged: dict[tuple[str, ...], list[float]] = {}
            for stats in snapshots:
                for extra, value in spec.read(stats):
                    if value is not None:
                        key: tuple[str, ...] = (
                            (stats.name,) if spec.label is None else (stats.name, extra)
                        )
                        merged.setdefault(key, []).append(float(value))
            for key, values in merged.items():
                family.add_metric(key, spec.merge(values))
            if family.samples or not snapshots:  # describe() names every family
                yield family

        latency = SummaryMetricFamily(LATENCY, LATENCY_HELP, labels=["gate"])
        by_name: dict[str, list[GateStatistics]] = {}
        for stats in snapshots:
            by_name.setdefault(stats.name, []).append(stats)
        for name, group in by_name.items():
            count = sum(s.latency.count for s in group)
            total = sum(s.latency.count * (s.latency.mean or 0.0) for s in group)
            if len(group) == 1:  # quantiles of several gates do not combine
                summary = group[0].latency
                for quantile, value in (
                    ("0.5", summary.p50),
                    ("0.9", summary.p90),
                    ("0.99", summary.p99),
                ):
                    _quantile(latency, name, quantile, value)
            latency.add_metric([name], count_value=count, sum_value=total)
        yield latency


def _quantile(family: Metric, gate: str, quantile: str, value: float | None) -> None:
    if value is not None:
        family.add_sample(family.name, {"gate": gate, "quantile": quantile}, value)


_REGISTERED: weakref.WeakKeyDictionary[Any, GateCollector] = weakref.WeakKeyDictionary()
_REGISTERING = threading.Lock()


def register_metrics(
    registry: CollectorRegistry | None = None, gates: Iterable[Observable] | None = None
) -> GateCollector:
    """Register a `GateCollector` on ``registry`` (default: ``prometheus_client.REGISTRY``)
    and return it; registering again on the same registry returns the same collector.

        register_metrics()
        app.mount("/metrics", prometheus_client.make_asgi_app())
        # GET /metrics -> sluice_gate_calls_total{gate="llm",outcome="succeeded"} ...

    Raises `ConfigError` when the registry already has a collector for other ``gates``.
    """
    require_client()
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    wanted = None if gates is None else list(gates)
    with _REGISTERING:
        existing = _REGISTERED.get(registry)
        if existing is not None:
            had = existing._explicit
            same = (
                had is None and wanted is None
                if had is None or wanted is None
                else {id(g) for g in had} == {id(g) for g in wanted}
            )
            if not same:
                raise ConfigError(
                    "register_metrics(): this registry already exports a gate collector for "
                    "other gates; unregister_metrics() it first"
                )
            return existing
        collector = GateCollector(wanted)
        registry.register(collector)
        _REGISTERED[registry] = collector
        return collector


def unregister_metrics(registry: CollectorRegistry | None = None) -> None:
    """Remove the collector `register_metrics` put on ``registry`` (if any).

    register_metrics(registry)
    unregister_metrics(registry)
    assert b"sluice_gate" not in prometheus_client.generate_latest(registry)
    """
    require_client()
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    with _REGISTERING:
        collector = _REGISTERED.pop(registry, None)
        if collector is not None:
            registry.unregister(collector)
