"""Gate metrics for Prometheus: rendered by prometheus_client, parsed back, checked."""

from __future__ import annotations

import asyncio
import gc
import sys

import pytest

import sluice
from tests.helpers import Flaky, Upstream

prometheus_client = pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from sluice.observe._prometheus import (  # noqa: E402
    GateCollector,
    register_metrics,
    unregister_metrics,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    """Every sample of the registry's text exposition, keyed by name and labels."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def gates_in(samples: Samples) -> set[str]:
    return {dict(labels).get("gate", "") for _, labels in samples} - {""}


async def test_a_scrape_reports_calls_retries_failures_and_cache_hits() -> None:
    gate = sluice.Gate(
        "metrics-calls",
        concurrency=2,
        retry=sluice.Retry(attempts=2, backoff=sluice.Backoff.constant(0.5)),
        cache=sluice.Cache(key=lambda fn, args, kwargs: repr(args)),
        breaker=sluice.Breaker(),
    )
    tried: list[object] = []

    async def answer(x: object) -> object:
        tried.append(x)
        await asyncio.sleep(1.0)
        if x == "flaky" and tried.count(x) == 1:
            raise Flaky()
        if x == "bad":
            raise Flaky(retryable=False)
        return x

    assert await gate.run(answer, "flaky") == "flaky"  # retried once: 1 + 0.5 + 1 s
    with pytest.raises(Flaky):
        await gate.run(answer, "bad")  # not retryable: failed
    assert await gate.run(answer, 7) == 7  # a miss, 1 s
    assert await gate.run(answer, 7) == 7  # a hit
    registry = CollectorRegistry()
    register_metrics(registry, gates=[gate])
    samples = scrape(registry)
    g = {"gate": "metrics-calls"}

    assert value(samples, "sluice_gate_calls_started_total", **g) == 4
    assert value(samples, "sluice_gate_calls_total", outcome="succeeded", **g) == 3
    assert value(samples, "sluice_gate_calls_total", outcome="failed", **g) == 1
    assert value(samples, "sluice_gate_calls_total", outcome="cancelled", **g) == 0
    assert value(samples, "sluice_gate_retries_total", **g) == 1
    assert value(samples, "sluice_gate_rejections_total", reason="circuit_open", **g) == 0
    assert value(samples, "sluice_gate_cache_lookups_total", result="hit", **g) == 1
    assert value(samples, "sluice_gate_cache_lookups_total", result="miss", **g) == 3
    assert value(samples, "sluice_gate_concurrency_limit", **g) == 2
    assert value(samples, "sluice_gate_breaker_state", **g) == 0
    assert value(samples, "sluice_gate_active_calls", **g) == 0
    assert value(samples, "sluice_gate_in_flight_attempts", **g) == 0
    # Successful calls, on virtual time: 2.5 s (with the retry), 1 s, and a hit.
    latency = gate.statistics().latency
    assert value(samples, "sluice_gate_latency_seconds_count", **g) == 3
    assert value(samples, "sluice_gate_latency_seconds_sum", **g) == pytest.approx(3.5)
    assert value(samples, "sluice_gate_latency_seconds", quantile="0.5", **g) == latency.p50
    assert value(samples, "sluice_gate_latency_seconds", quantile="0.99", **g) == 2.5
    # No rate limit, no adaptive limit, no shared state: those series are absent.
    assert value(samples, "sluice_gate_rate_delay_seconds", **g) is None
    assert value(samples, "sluice_gate_adaptive_limit", **g) is None


async def test_rejections_are_counted_by_reason_and_gauges_read_at_scrape_time() -> None:
    gate = sluice.Gate("metrics-busy", concurrency=sluice.Concurrency(1, max_queue=1))
    registry = CollectorRegistry()
    register_metrics(registry, gates=[gate])
    upstream = Upstream(latency=1.0)
    tasks = [asyncio.ensure_future(gate.run(upstream)) for _ in range(3)]
    await asyncio.sleep(0.5)
    samples = scrape(registry)
    g = {"gate": "metrics-busy"}
    assert value(samples, "sluice_gate_in_flight_attempts", **g) == 1
    assert value(samples, "sluice_gate_waiting_calls", **g) == 1
    assert value(samples, "sluice_gate_active_calls", **g) == 2
    assert value(samples, "sluice_gate_rejections_total", reason="queue_full", **g) == 1
    await asyncio.gather(*tasks, return_exceptions=True)
    samples = scrape(registry)
    assert value(samples, "sluice_gate_active_calls", **g) == 0
    assert value(samples, "sluice_gate_calls_total", outcome="succeeded", **g) == 2


async def test_an_open_breaker_and_a_rate_limit_show_as_gauges() -> None:
    gate = sluice.Gate(
        "metrics-breaker",
        breaker=sluice.Breaker(min_calls=2, window=2, open_for=10.0),
        rate=sluice.Rate(rps=1, burst=1),
    )
    for _ in range(2):
        with pytest.raises(Flaky):
            await gate.run(Upstream(script=[Flaky()]))
    with pytest.raises(sluice.CircuitOpenError):
        await gate.run(Upstream())
    registry = CollectorRegistry()
    register_metrics(registry, gates=[gate])
    samples = scrape(registry)
    g = {"gate": "metrics-breaker"}
    assert value(samples, "sluice_gate_breaker_state", **g) == 2
    assert value(samples, "sluice_gate_breaker_opened_total", **g) == 1
    assert value(samples, "sluice_gate_rejections_total", reason="circuit_open", **g) == 1
    assert value(samples, "sluice_gate_rate_delay_seconds", **g) is not None


async def test_every_live_gate_is_found_and_a_collected_one_disappears() -> None:
    registry = CollectorRegistry()
    register_metrics(registry)
    kept = sluice.Gate("metrics-kept")
    dropped = sluice.Gate("metrics-dropped")
    await dropped.run(Upstream())
    assert {"metrics-kept", "metrics-dropped"} <= gates_in(scrape(registry))
    del dropped
    gc.collect()
    names = gates_in(scrape(registry))
    assert "metrics-kept" in names
    assert "metrics-dropped" not in names
    assert kept.name == "metrics-kept"


async def test_gates_sharing_a_name_are_exported_once() -> None:
    first = sluice.Gate("metrics-twin", concurrency=2)
    second = sluice.Gate("metrics-twin", concurrency=3)
    await first.run(Upstream(latency=1.0))
    await second.run(Upstream(latency=3.0))
    registry = CollectorRegistry()
    register_metrics(registry, gates=[first, second])
    samples = scrape(registry)
    g = {"gate": "metrics-twin"}
    assert value(samples, "sluice_gate_calls_started_total", **g) == 2
    assert value(samples, "sluice_gate_concurrency_limit", **g) == 5
    assert value(samples, "sluice_gate_latency_seconds_count", **g) == 2
    assert value(samples, "sluice_gate_latency_seconds_sum", **g) == pytest.approx(4.0)
    assert value(samples, "sluice_gate_latency_seconds", quantile="0.5", **g) is None


def test_registering_twice_returns_the_same_collector() -> None:
    registry = CollectorRegistry()
    gate = sluice.Gate("metrics-once")
    collector = register_metrics(registry)
    assert register_metrics(registry) is collector
    text = generate_latest(registry).decode()
    assert text.count("# TYPE sluice_gate_calls_started_total counter") == 1
    with pytest.raises(sluice.ConfigError, match="other gates"):
        register_metrics(registry, gates=[gate])
    unregister_metrics(registry)
    assert b"sluice_gate" not in generate_latest(registry)
    assert register_metrics(registry, gates=[gate]) is not collector
    assert register_metrics(registry, gates=[gate]).gates() == [gate]


def test_the_collector_names_its_families_without_reading_gates() -> None:
    # A registry that checks names asks describe(); a clash is refused before any scrape.
    registry = CollectorRegistry(auto_describe=True)
    registry.register(GateCollector())
    with pytest.raises(ValueError, match="Duplicated"):
        registry.register(GateCollector())


def test_a_missing_prometheus_client_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'aiosluice\[metrics\]'"):
        GateCollector()
    with pytest.raises(ImportError, match=r"pip install 'aiosluice\[metrics\]'"):
        register_metrics()


def test_importing_sluice_does_not_import_prometheus_client() -> None:
    import subprocess

    code = (
        "import sys, sluice, sluice.observe, sluice.observe._prometheus, "
        "sluice.observe._loop_lag; print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class _Broken:
    name = "metrics-broken"

    def statistics(self) -> sluice.GateStatistics:
        raise RuntimeError("no statistics today")


def test_a_gate_that_cannot_answer_is_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = sluice.Gate("metrics-fine")
    broken = _Broken()
    registry = CollectorRegistry()
    register_metrics(registry, gates=[gate, broken])
    with caplog.at_level("WARNING", logger="sluice.observe"):
        names = gates_in(scrape(registry))
    assert names == {"metrics-fine"}
    assert "metrics-broken" in caplog.text
