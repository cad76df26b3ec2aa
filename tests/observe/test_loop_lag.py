"""The event-loop lag monitor, on virtual time: a stall is the clock jumping under a sleeper."""

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice.testing import VirtualTimeLoop

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry

from sluice.observe._loop_lag import LoopLagMonitor, loop_lag_histogram


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def stall(seconds: float) -> None:
    """What a blocking call does to the loop: time passes and nothing else runs."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    loop.advance(seconds)


async def test_a_stall_is_observed_as_lag() -> None:
    registry = CollectorRegistry()
    async with LoopLagMonitor(interval=1.0, registry=registry) as monitor:
        await asyncio.sleep(0.5)
        stall(0.75)  # the monitor, due at 1.0, wakes at 1.25
        await asyncio.sleep(0.01)
        assert monitor.samples == 1
        assert monitor.last_lag == 0.25
        await asyncio.sleep(1.5)  # due at 2.25, on time
        assert monitor.samples == 2
        assert monitor.last_lag == 0.0
    assert not monitor.running
    name = "sluice_event_loop_lag_seconds"
    assert sample(registry, f"{name}_count") == 2
    assert sample(registry, f"{name}_sum") == 0.25
    assert sample(registry, f"{name}_bucket", le="0.1") == 1
    assert sample(registry, f"{name}_bucket", le="0.25") == 2


async def test_stop_cancels_and_awaits_the_task() -> None:
    monitor = LoopLagMonitor(interval=0.1, registry=CollectorRegistry()).start()
    assert monitor.start() is monitor  # already running: the same task
    task = monitor._task
    assert task is not None
    assert monitor.running
    await monitor.stop()
    assert task.done()
    assert task.cancelled()
    assert not monitor.running
    await monitor.stop()  # stopping twice is harmless
    others = [t for t in asyncio.all_tasks() if t.get_name() == "sluice-loop-lag"]
    assert others == []


async def test_monitors_on_one_registry_share_its_histogram() -> None:
    registry = CollectorRegistry()
    first = LoopLagMonitor(registry=registry)
    second = LoopLagMonitor(registry=registry)
    assert first._histogram is second._histogram is loop_lag_histogram(registry)


@pytest.mark.parametrize("interval", [0, -1.0, float("nan"), float("inf"), "1"])
def test_the_interval_is_checked(interval: object) -> None:
    with pytest.raises(sluice.ConfigError, match="interval"):
        LoopLagMonitor(interval=interval, registry=CollectorRegistry())  # type: ignore[arg-type]
