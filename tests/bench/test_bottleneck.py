"""A level where the load generator was the bottleneck is suspect (or invalid), never "ok":
the rule, with injected measurements of the generator's CPU and loop lag."""

from __future__ import annotations

import asyncio
import io

import pytest
from rich.console import Console

from sluice.bench._console import level_line, print_load
from sluice.bench._health import CPU_SUSPECT, LAG_WARN, Health, HealthMonitor
from sluice.bench._load import LevelRun, Phase
from sluice.bench._report import load_report
from sluice.bench._samples import OK, SampleSet
from sluice.bench._schedule import PaceStats
from sluice.bench._sweep import SweepConfig, SweepResult, evaluate
from sluice.bench._targets import TargetSpec


def _health(cpu: float = 0.3, wait: float = 0.0, lag: float = 0.001) -> Health:
    return Health(cpu=cpu, cpu_peak=cpu, lag_p99=lag, lag_max=lag, samples=20, cpu_wait=wait)


def _run(*health: Health, late: bool = False) -> LevelRun:
    samples = SampleSet()
    for i in range(100):
        samples.add(start=i / 50, sent=i / 50, end=i / 50 + 0.01, outcome=OK, status=200)
    pace = None
    if late:
        pace = PaceStats(scheduled=100, sent=100, late=100)
        pace.lags.extend([0.2] * 100)
    return LevelRun(samples=samples, window=2.0, pace=pace, health=list(health))


def _config(model: str = "closed") -> SweepConfig:
    return SweepConfig(
        model=model,
        levels=(10.0,),
        phase=Phase(warmup=0.5, duration=2.0),
        target=TargetSpec("http://127.0.0.1:9/ask", api="http"),
    )


@pytest.mark.parametrize(
    ("health", "status", "reason"),
    [
        ([_health()], "ok", None),
        ([_health(cpu=0.85)], "ok", None),  # a warning, but headroom is left
        ([_health(cpu=CPU_SUSPECT)], "suspect", "wanted 90% of a core"),
        ([_health(cpu=0.5, wait=0.45)], "suspect", "wanted 95% of a core"),
        ([_health(lag=LAG_WARN * 1.5)], "suspect", "lagged 30.0 ms at p99"),
        ([_health(), _health(cpu=0.97)], "suspect", "generator process 2 wanted 97%"),
    ],
)
def test_the_generator_bottleneck_rule(health: list[Health], status: str, reason: str) -> None:
    judged = evaluate(10.0, _run(*health), _config())
    assert judged.status == status
    assert judged.valid  # the figures are measured; the status says how far to trust them
    if reason is None:
        assert judged.suspect_reasons == ()
    else:
        assert any(reason in r for r in judged.suspect_reasons), judged.suspect_reasons
        assert all(r.endswith("add --workers") for r in judged.suspect_reasons)


def test_an_invalid_level_stays_invalid_when_also_suspect() -> None:
    judged = evaluate(10.0, _run(_health(cpu=1.0), late=True), _config("open"))
    assert (judged.status, judged.valid) == ("invalid", False)
    assert "add --workers" in judged.invalid_reasons[0]
    assert judged.suspect_reasons


def test_the_table_says_to_add_workers() -> None:
    config = _config()
    result = SweepResult(levels=[evaluate(10.0, _run(_health(cpu=0.99)), config)])
    data = load_report(config, result, target={"description": "t", "url": "u"})
    assert data["levels"][0]["status"] == "suspect"
    assert "suspect" in data["definitions"]
    out = io.StringIO()
    print_load(Console(file=out, width=250, highlight=False), data)
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.startswith("│"))
    assert "SUSPECT: add --workers" in row
    assert " ok " not in row
    assert "Level 10 is suspect: the load generator wanted 99% of a core" in text
    assert level_line("closed", data["levels"][0]).endswith("[SUSPECT]")


async def test_a_saturated_monitor_makes_the_level_suspect() -> None:
    now = {"cpu": 0.0, "wall": 0.0}
    monitor = HealthMonitor(
        0.1, cpu_time=lambda: now["cpu"], wall_time=lambda: now["wall"], wait_time=lambda: 0.0
    )
    async with monitor:
        await asyncio.sleep(1.0)
        now.update(cpu=1.9, wall=2.0)  # 95 % of a core
    judged = evaluate(10.0, _run(monitor.report()), _config())
    assert judged.status == "suspect"
