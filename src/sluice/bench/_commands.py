"""The bodies of ``sluice bench load``, ``sluice bench strategies`` and the demo.

Each runs its measurement, prints progress and the tables, writes the report folder, and
returns what happened (including an error or an interruption) for the command to turn into
an exit code. Ctrl-C once: the current level winds down and a partial report is written;
twice: the level in progress is abandoned, the finished ones are still reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ._console import level_line, print_load, print_strategies
from ._output import write_report
from ._report import load_report
from ._samples import OUTCOMES
from ._simulator import embedded_simulator
from ._strategies import StrategyConfig, run_strategies, sim_config
from ._sweep import LevelResult, SweepConfig, SweepResult, preflight, run_sweep
from ._targets import Reply, TargetSpec

__all__ = ["LoadOutcome", "StrategiesOutcome", "load_test", "run_stoppable", "strategies_test"]

T = TypeVar("T")
Echo = Callable[[str], None]


def run_stoppable(main: Callable[[Callable[[], bool]], Awaitable[T]], echo: Echo) -> T:
    """``asyncio.run(main(stop))``: the first Ctrl-C makes ``stop()`` true, the second
    cancels ``main`` (raising KeyboardInterrupt)."""

    async def wrapper() -> T:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        task = asyncio.current_task()

        def on_interrupt() -> None:
            if stopping.is_set():
                if task is not None:
                    task.cancel()
                return
            stopping.set()
            echo("Stopping: finishing the current level (press Ctrl-C again to abandon it)...")

        handled = True
        try:
            loop.add_signal_handler(signal.SIGINT, on_interrupt)
        except (NotImplementedError, RuntimeError, ValueError):
            handled = False  # not the main thread, or no signals here: Ctrl-C stays abrupt
        try:
            return await main(stopping.is_set)
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)

    try:
        return asyncio.run(wrapper())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


def preflight_problem(reply: Reply, spec: TargetSpec) -> str | None:
    """Why the first request shows the target cannot be load-tested, or None."""
    outcome = OUTCOMES[reply.outcome]
    url = spec.request_url
    if outcome == "connection":
        return f"cannot connect to {url}: {reply.detail}"
    if outcome == "timeout":
        return f"{url} did not answer the first request within {spec.timeout:g} s"
    if outcome == "bad_response":
        what = "an OpenAI-compatible chat completion" if spec.api == "chat" else "valid HTTP"
        return f"{url} answered, but not with {what}: {reply.detail}"
    if outcome == "other_status":
        return (
            f"{url} answered the first request with HTTP {reply.status} ({reply.detail}); "
            "check the URL, --api and --api-key"
        )
    return None


@dataclass(slots=True)
class LoadOutcome:
    data: dict[str, Any]
    index: Path
    interrupted: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def load_test(
    config: SweepConfig,
    *,
    target: dict[str, Any],
    out: Path,
    console: Any,
    echo: Echo,
    command: str = "sluice bench load",
) -> LoadOutcome:
    """Preflight, sweep, report. Never raises for a failing target: see ``error``."""
    result = SweepResult()
    error: str | None = None
    notes: list[str] = []
    phase = config.phase
    unit = "users" if config.model == "closed" else "requests/s"
    measured = f"{phase.duration:g} s" if phase.duration else f"{phase.requests} requests"
    timing = f"{phase.warmup:g} s warm-up, then {measured}" if phase.warmup else measured

    def started(index: int, level: float) -> None:
        echo(f"Level {index + 1}/{len(config.levels)}: {level:g} {unit} ({timing})...")

    def finished(level: LevelResult) -> None:
        echo(level_line(config.model, dataclasses.asdict(level)))

    async def main(stop: Callable[[], bool]) -> None:
        nonlocal error
        first = await preflight(config.target)
        error = preflight_problem(first, config.target)
        if error is not None:
            return
        if first.outcome != 0:
            notes.append(f"the first request failed ({first.detail}); measuring anyway")
            echo(f"Note: {notes[-1]}.")
        await run_sweep(config, stop=stop, on_start=started, on_level=finished, result=result)

    interrupted = False
    try:
        run_stoppable(main, echo)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # reported with what was measured before it
        error = f"the load test failed: {type(exc).__name__}: {exc}"
    interrupted = interrupted or result.interrupted
    result.interrupted = interrupted
    data = load_report(config, result, target=target, error=error, command=command)
    data["notes"] = notes
    index = write_report(out, data)
    if data["levels"]:
        console.print()
        print_load(console, data)
    return LoadOutcome(data, index, interrupted, error, notes)


@dataclass(slots=True)
class StrategiesOutcome:
    data: dict[str, Any]
    index: Path
    interrupted: bool = False


def strategies_test(
    config: StrategyConfig, *, out: Path, console: Any, echo: Echo, redis: str | None = None
) -> StrategiesOutcome:
    """Start the simulator, compare the strategies, report. The shared row uses the Redis at
    ``redis``, else a private redis-server when one is installed, else says how to enable it."""

    def progress(row: dict[str, Any]) -> None:
        wall = row.get("wall_s")
        if row.get("skipped"):
            shown = "not run: " + str(row["skipped"])
        elif wall is None:
            shown = "failed: " + str(row.get("error"))
        else:
            shown = f"{wall:.2f} s"
        if "server_429" in row:
            shown += f", {row['server_429']} answered 429"
        prefix = "  agent steps, " if row.get("agent") else "  "
        echo(f"{prefix}{row['label']}: {shown}")

    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(embedded_simulator(sim_config(config)))
        echo(
            f"Comparing strategies: {config.calls} calls of {config.call_latency:g} s each "
            f"against the embedded simulator at {sim.base_url}"
        )
        data = run_strategies(config, sim.base_url, redis=redis, on_row=progress)
    index = write_report(out, data)
    console.print()
    print_strategies(console, data)
    return StrategiesOutcome(data, index, bool(data.get("interrupted")))
