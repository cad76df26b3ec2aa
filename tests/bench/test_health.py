"""The generator's self-monitoring, with injected CPU and wall clocks on virtual time."""

from __future__ import annotations

import asyncio

import pytest

from sluice.bench._health import Health, HealthMonitor, health_warnings, run_queue_wait


async def test_cpu_shares_over_the_monitored_span() -> None:
    now = {"cpu": 0.0, "wall": 0.0, "wait": 0.0}
    monitor = HealthMonitor(
        0.1,
        cpu_time=lambda: now["cpu"],
        wall_time=lambda: now["wall"],
        wait_time=lambda: now["wait"],
    )
    async with monitor:
        await asyncio.sleep(1.0)
        now.update(cpu=0.6, wall=2.0, wait=1.2)
    health = monitor.report()
    assert health.cpu == pytest.approx(0.3)
    assert health.cpu_wait == pytest.approx(0.6)
    assert health.cpu_demand == pytest.approx(0.9)
    assert health.lag_max == 0.0  # virtual time: timers fire exactly on time
    assert health.samples >= 9


async def test_nothing_before_the_measurement_counts() -> None:
    loop = asyncio.get_running_loop()
    now = {"cpu": 0.0, "wall": 0.0}
    monitor = HealthMonitor(
        0.1,
        measure_from=loop.time() + 1.0,
        cpu_time=lambda: now["cpu"],
        wall_time=lambda: now["wall"],
        wait_time=lambda: 0.0,
    )
    async with monitor:
        now.update(cpu=5.0, wall=5.0)  # a busy warm-up
        await asyncio.sleep(1.5)
        now.update(cpu=5.1, wall=6.0)
    assert monitor.report().cpu == pytest.approx(0.1)


def test_warnings_name_the_bottleneck() -> None:
    calm = Health(cpu=0.3, cpu_peak=0.4, lag_p99=0.001, lag_max=0.002, samples=10)
    busy = Health(cpu=0.6, cpu_peak=0.9, lag_p99=0.001, lag_max=0.002, samples=10, cpu_wait=0.3)
    laggy = Health(cpu=0.2, cpu_peak=0.3, lag_p99=0.05, lag_max=0.06, samples=10)
    assert health_warnings([calm]) == []
    (warning,) = health_warnings([busy])
    assert "used 60% of a core, and waited 30% for one" in warning
    assert "generator process 2" in health_warnings([calm, laggy])[0]
    assert "50.0 ms" in health_warnings([laggy])[0]


def test_run_queue_wait_is_a_number() -> None:
    assert run_queue_wait() >= 0.0
