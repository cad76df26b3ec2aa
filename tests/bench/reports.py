"""Report data for the report tests, built through the real pipeline from scripted samples."""

from __future__ import annotations

from typing import Any

from sluice.bench._load import LevelRun, Phase
from sluice.bench._report import load_report
from sluice.bench._samples import OK, SampleSet, outcome_code
from sluice.bench._schedule import PaceStats
from sluice.bench._stats import Slo
from sluice.bench._sweep import SweepConfig, SweepResult, evaluate
from sluice.bench._targets import TargetSpec


def _run(level: float, *, late: bool = False) -> LevelRun:
    samples = SampleSet()
    base = 0.05 + level / 2000
    for i in range(200):
        latency = base * (1 + (i % 10) / 20)
        samples.add(
            start=i / 100,
            sent=i / 100,
            end=i / 100 + latency,
            outcome=OK,
            status=200,
            ttft=latency / 4,
            tokens=8,
            gaps=[latency / 10] * 7,
        )
    samples.add(start=1.0, sent=1.0, end=1.1, outcome=outcome_code("429"), status=429, detail="x")
    pace = PaceStats(scheduled=201, sent=201, late=150 if late else 0)
    pace.lags.extend([0.05 if late else 0.0001] * 201)
    return LevelRun(samples=samples, window=2.0, pace=pace)


def load_data(*, stream: bool = True, description: str = "scripted target") -> dict[str, Any]:
    config = SweepConfig(
        model="open",
        levels=(100.0, 200.0, 400.0),
        phase=Phase(warmup=0.5, duration=2.0),
        target=TargetSpec("http://127.0.0.1:9/v1", stream=stream),
        slo=Slo(ttft=0.05, e2e=0.5) if stream else None,
    )
    result = SweepResult()
    for level in config.levels:
        result.levels.append(evaluate(level, _run(level, late=level == 400.0), config))
    target = {"description": description, "url": config.target.request_url, "stream": stream}
    return load_report(config, result, target=target)


def strategies_data() -> dict[str, Any]:
    rows = [
        ("sequential", "1. sequential blocking calls", 2.0),
        ("threads", "2. thread pool", 0.12),
        ("gather_blocking", "3. asyncio.gather, blocking client inside", 2.01),
        ("executor", "4. asyncio + run_in_executor", 0.41),
        ("sluice", "5. sluice Gate + async client", 0.11),
        ("processes", "6. process pool", None),
    ]
    return {
        "kind": "strategies",
        "created": "2026-01-01T00:00:00+00:00",
        "calls": 20,
        "latency_s": 0.1,
        "blocking_client": "urllib.request",
        "async_client": "sluice.llm.Client",
        "definitions": {"peak_rss": "peak RSS", "cpu_s": "CPU"},
        "agent_steps_s": [0.829, 0.696],
        "strategies": [
            {
                "name": name,
                "label": label,
                "wall_s": wall,
                "speedup": 2.0 / wall if wall else None,
                "calls_per_s": 20 / wall if wall else None,
                "cpu_s": 0.01,
                "peak_rss": 30 * 2**20,
                "pss": 20 * 2**20,
                "explanation": "why" if wall else "failed: boom",
            }
            for name, label, wall in rows
        ],
        "agents": [
            {
                "name": "sequential",
                "label": "one after the other",
                "wall_s": 1.53,
                "explanation": "",
            },
            {"name": "gate", "label": "sluice Gate.run", "wall_s": 0.83, "explanation": ""},
        ],
        "interrupted": False,
    }
