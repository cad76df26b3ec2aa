"""Reports as plain JSON data: every figure measured, with the definitions used.

A report is a JSON object with a ``kind`` (``"load"`` or ``"strategies"``). Durations are in
seconds, rates per second, memory in bytes. The console tables, the plots and the HTML page
are all drawn from this data, so a JSON file can be rendered again later.

    data = load_report(config, result, target={"url": url})
    write_json(out_dir / "load.json", data)
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ._health import CPU_SUSPECT, LAG_WARN
from ._load import Phase
from ._schedule import LATE_AFTER
from ._stats import PERCENTILE_DEFINITION
from ._sweep import LAG_CAP, LAG_FLOOR, LAG_SHARE, SweepConfig, SweepResult

__all__ = ["LOAD_FILE", "STRATEGIES_FILE", "host_info", "load_report", "read_reports", "write_json"]

LOAD_FILE = "load.json"
STRATEGIES_FILE = "strategies.json"

MODEL_TEXT = {
    "closed": (
        "closed model: a fixed number of users, each sending its next request as soon as the "
        "previous one finished; levels are concurrency (users). Throughput is an output, and "
        "stalls of the target are under-sampled (coordinated omission)."
    ),
    "open": (
        "open model: requests arrive on a schedule fixed in advance (requests per second), "
        "whether or not earlier ones finished; latency is measured from each request's "
        "scheduled send time, so stalls and send delays are fully counted."
    ),
}
LATENCY_TEXT = {
    "closed": "from the actual send of a request to the end of its answer",
    "open": "from the scheduled send time of a request to the end of its answer",
}


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).astimezone().isoformat(timespec="seconds")


def host_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sluice": __version__,
    }


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _phase(phase: Phase) -> dict[str, Any]:
    return {
        "warmup_s": phase.warmup,
        "duration_s": phase.duration,
        "requests": phase.requests,
        "request_timeout_s": phase.timeout,
    }


def load_report(
    config: SweepConfig | None,
    result: SweepResult | None,
    *,
    target: dict[str, Any],
    error: str | None = None,
    command: str = "sluice bench load",
) -> dict[str, Any]:
    """The JSON data of a load sweep (possibly partial, or only an error)."""
    model = config.model if config is not None else None
    levels = []
    for level in result.levels if result is not None else ():
        item = dataclasses.asdict(level)
        item["health"] = [dataclasses.asdict(h) for h in level.health]
        levels.append(item)
    unit = "users" if model == "closed" else "requests/s"
    warnings = [f"at {lv['level']:g} {unit}, {w}" for lv in levels for w in lv["warnings"]]
    data: dict[str, Any] = {
        "kind": "load",
        "command": command,
        "created": now_iso(),
        "host": host_info(),
        "model": model,
        "model_description": MODEL_TEXT.get(model or "", ""),
        "arrival": config.arrival if config is not None and model == "open" else None,
        "target": target,
        "phase": _phase(config.phase) if config is not None else None,
        "workers": config.workers if config is not None else None,
        "slo": dataclasses.asdict(config.slo) if config and config.slo else None,
        "definitions": {
            "percentiles": PERCENTILE_DEFINITION,
            "latency": LATENCY_TEXT.get(model or "", ""),
            "latency_scope": "successful requests only; failures are counted by class",
            "requests": "requests whose start (scheduled start in the open model) falls in the "
            "measurement window, after the warm-up",
            "rps": "requests / measurement window; ok_rps: successful requests / window",
            "service_time": "from the actual send to the end of the answer",
            "ttft": "time to the first content chunk, from the same start as latency",
            "tpot": "(latency - ttft) / (output tokens - 1), per request with > 1 token "
            "(output tokens: usage.completion_tokens, else content chunks); mean and "
            "percentiles over requests, each request one sample",
            "itl": "every gap between consecutive content chunks, pooled over requests",
            "goodput": "successful requests meeting every SLO / window",
            "late_send": f"a send more than {LATE_AFTER * 1000:g} ms after its scheduled time",
            "invalid": "open model only: the generator fell behind (p99 send lag above "
            f"max({LAG_FLOOR * 1000:g} ms, {LAG_SHARE:.0%} of the p99 service time), or above "
            f"{LAG_CAP * 1000:g} ms) or dropped arrivals at the in-flight cap; the level's "
            "figures are kept here but are not a result",
            "suspect": "the load generator was the bottleneck: a process wanted at least "
            f"{CPU_SUSPECT:.0%} of a core (CPU used + waited for), or its event loop lagged more "
            f"than {LAG_WARN * 1000:g} ms at p99; the figures include its own queueing (add "
            "--workers)",
            "units": "durations in seconds, rates per second",
        },
        "levels": levels,
        "interrupted": bool(result and result.interrupted),
        "stopped_early": result.stopped_early if result is not None else None,
        "error": error,
        "warnings": warnings,
    }
    return _clean(data)  # type: ignore[no-any-return]


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")
    return path


def read_reports(folder: Path) -> dict[str, dict[str, Any]]:
    """The reports found in ``folder``, by kind (unreadable files are skipped)."""
    found: dict[str, dict[str, Any]] = {}
    for name in (LOAD_FILE, STRATEGIES_FILE):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kind") in ("load", "strategies"):
            found[data["kind"]] = data
    return found
