"""``sluice bench strategies``: the same N LLM calls, six ways, against the simulator, then
split between four processes that share one limit through Redis (see `_shared_row`).

Every strategy runs in a fresh process of its own (see `_strategy_child`), so its peak memory
is its own and nothing it leaves behind (threads, a warm pool) helps the next one. The
simulator runs in another process with a fixed latency per call; the multi-agent case runs
two independent "agent steps" of different lengths, each one blocking model call.

    data = run_strategies(StrategyConfig(calls=20, latency=1.0, scale=0.1), url, redis=None)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._report import host_info, now_iso
from ._shared_row import SHARED, explain_shared, shared_row
from ._strategy_child import CHILD_COMMAND

__all__ = [
    "AGENT_ROWS",
    "SHARED",
    "STRATEGIES",
    "StrategyConfig",
    "explain",
    "run_strategies",
    "sim_config",
]

STRATEGIES: tuple[tuple[str, str], ...] = (
    ("sequential", "1. sequential blocking calls"),
    ("threads", "2. thread pool"),
    ("gather_blocking", "3. asyncio.gather, blocking client inside"),
    ("executor", "4. asyncio + run_in_executor"),
    ("sluice", "5. sluice Gate + async client"),
    ("processes", "6. process pool"),
)
AGENT_ROWS: tuple[tuple[str, str], ...] = (
    ("sequential", "one step after the other"),
    ("gather_blocking", "asyncio.gather, blocking calls inside"),
    ("gate", "sluice Gate.run (blocking call offloaded)"),
)
BLOCKING_CLIENT = "urllib.request (Python standard library)"
ASYNC_CLIENT = "sluice.llm.Client (aiohttp), every call through a sluice.Gate"
MEMORY_TEXT = (
    "peak_rss: peak resident set size (ru_maxrss) of the fresh process that ran the strategy, "
    "imports included, plus, for the process pool, the peak RSS each pool process reported "
    "for itself (pages shared between processes are counted once per process). "
    "baseline_rss: the same figure just before the strategy started. pss (Linux): "
    "proportional set size at the end of the run (shared pages divided among the processes "
    "sharing them), the process plus its pool processes."
)
CPU_TEXT = "user + system CPU time of that process and of the pool processes it reaped"


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """The comparison's parameters. ``scale`` multiplies every latency (``--quick``: 0.1)."""

    calls: int = 20
    latency: float = 1.0
    width: int | None = None  # threads / processes / calls in flight; default: calls
    agent_steps: tuple[float, ...] = (8.29, 6.96)
    scale: float = 1.0
    itl: float = 0.01  # simulator seconds per token, before scaling (shapes the agent steps)

    def __post_init__(self) -> None:
        if self.calls < 1:
            raise ValueError(f"calls must be >= 1, got {self.calls!r}")
        if not all(0 < value < math.inf for value in (self.latency, self.scale)):
            raise ValueError("latency and scale must be finite numbers > 0")
        if self.width is not None and self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width!r}")
        if not all(0 < step < math.inf for step in self.agent_steps):
            raise ValueError("agent steps must be finite numbers of seconds > 0")

    @property
    def pool_width(self) -> int:
        return self.width or self.calls

    @property
    def call_latency(self) -> float:
        return self.latency * self.scale

    @property
    def token_gap(self) -> float:
        return self.itl * self.scale

    def step_tokens(self) -> list[int]:
        """Completion lengths making each agent step last its (scaled) time on the simulator."""
        return [
            max(1, round((step * self.scale - self.call_latency) / self.token_gap) + 1)
            for step in self.agent_steps
        ]

    def child_timeout(self) -> float:
        steps = sum(self.agent_steps) * self.scale * 2
        return 60.0 + 2 * self.calls * self.call_latency + steps


def explain(name: str, row: dict[str, Any], config: StrategyConfig) -> str:
    """One line on why ``row`` lands where it does."""
    n, latency, width = config.calls, config.call_latency, config.pool_width
    if name == "sequential":
        return f"One call at a time: about {n} x {latency:g} s = {n * latency:.2f} s."
    if name == "threads":
        return (
            f"{width} threads each wait on their own socket (the GIL is released while "
            "waiting), so the calls overlap."
        )
    if name == "gather_blocking":
        return (
            "Looks concurrent, but each blocking call holds the event loop, so the "
            "coroutines run one after another: no faster than sequential."
        )
    if name == "executor":
        threads = int(row.get("threads") or 1)
        waves = math.ceil(n / threads)
        return (
            f"The loop's default pool has {threads} threads (min(32, CPUs + 4)), so the "
            f"calls overlap {threads} at a time: {waves} waves of {latency:g} s."
        )
    if name == "sluice":
        return (
            f"One thread, async I/O: the gate keeps up to {width} calls in flight and the "
            "loop waits on all their sockets at once; no thread or process per call."
        )
    if name == "processes":
        return (
            f"The calls overlap across {row.get('processes', width)} processes, but each "
            "process starts an interpreter and holds its own memory."
        )
    if name == SHARED[0]:
        return explain_shared(row, config.calls, config.pool_width)
    if name == "agents:sequential":
        return "Each step waits for the previous one: the sum of the steps."
    if name == "agents:gather_blocking":
        return "The blocking model call freezes the loop, so the steps still add up."
    if name == "agents:gate":
        return "Gate.run moves the blocking call to a worker thread: the longest step sets it."
    return ""


def _run_child(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    argv = [sys.executable, "-c", CHILD_COMMAND, json.dumps(job)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"did not finish within {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"ok": False, "error": f"exit code {done.returncode}: {tail[0]}"}
    return result


def run_strategies(
    config: StrategyConfig,
    url: str,
    *,
    redis: str | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Measure every strategy against the simulator at ``url``; the report data. The shared
    row uses the Redis at ``redis``, else a private ``redis-server`` if one is installed.

    A KeyboardInterrupt stops the comparison: the rows measured so far are returned with
    ``interrupted`` set.
    """
    data: dict[str, Any] = {
        "kind": "strategies",
        "command": "sluice bench strategies",
        "created": now_iso(),
        "host": host_info(),
        "calls": config.calls,
        "latency_s": config.call_latency,
        "scale": config.scale,
        "width": config.pool_width,
        "blocking_client": BLOCKING_CLIENT,
        "async_client": ASYNC_CLIENT,
        "definitions": {"peak_rss": MEMORY_TEXT, "cpu_s": CPU_TEXT, "units": "s, bytes"},
        "agent_steps_s": [step * config.scale for step in config.agent_steps],
        "strategies": [],
        "agents": [],
        "interrupted": False,
    }
    timeout = config.child_timeout()
    base = {"url": url, "calls": config.calls, "width": config.pool_width, "timeout": timeout}
    try:
        for name, label in STRATEGIES:
            result = _run_child({**base, "strategy": name}, timeout)
            row = {"name": name, "label": label, **result}
            if not row.get("ok"):
                row["wall_s"] = None
            _finish_row(row, data["strategies"], config)
            data["strategies"].append(row)
            if on_row is not None:
                on_row(row)
        row = shared_row(
            config.calls,
            config.pool_width,
            config.call_latency,
            redis=redis,
            run_child=_run_child,
            timeout=timeout,
        )
        _finish_row(row, data["strategies"], config)
        data["strategies"].append(row)
        if on_row is not None:
            on_row(row)
        result = _run_child(
            {**base, "strategy": "agents", "step_tokens": config.step_tokens()}, timeout
        )
        walls = result.get("walls") or {}
        for name, label in AGENT_ROWS:
            row = {
                "name": name,
                "label": label,
                "wall_s": walls.get(name),
                "error": result.get("error"),
                "explanation": explain(f"agents:{name}", {}, config),
            }
            data["agents"].append(row)
            if on_row is not None:
                on_row({**row, "agent": True})
    except KeyboardInterrupt:
        data["interrupted"] = True
    return data


def _finish_row(row: dict[str, Any], done: list[dict[str, Any]], config: StrategyConfig) -> None:
    wall = row.get("wall_s")
    if row["name"] == "sequential":
        sequential = wall
    else:
        sequential = next((r["wall_s"] for r in done if r["name"] == "sequential"), None)
    row["speedup"] = sequential / wall if sequential and wall else None
    row["calls_per_s"] = config.calls / wall if wall else None
    row["explanation"] = (
        explain(row["name"], row, config) if wall else row.get("skipped") or row.get("error") or ""
    )


def sim_config(config: StrategyConfig) -> Any:
    """The simulator for the comparison: every call takes the configured latency."""
    from sluice.sim import SimConfig

    return SimConfig(
        ttft=config.call_latency,
        itl=config.token_gap,
        output_tokens=max(config.step_tokens()) + 1,
        max_queue=max(100, 2 * config.calls),
    )
