"""Terminal tables of the reports (rich), drawn from the report data.

console = make_console()
print_load(console, data)
print_strategies(console, data)
"""

from __future__ import annotations

import sys
from typing import Any

from ._samples import FAILURE_LABELS

__all__ = [
    "STREAM_METRICS",
    "failures_text",
    "health_text",
    "level_line",
    "level_status",
    "make_console",
    "mib",
    "ms",
    "print_load",
    "print_strategies",
    "status_text",
    "stream_cells",
    "wall_text",
]


def make_console() -> Any:
    """A rich console on the current stdout, wide enough for the tables when not a terminal."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 160
    return Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def wall_text(row: dict[str, Any]) -> str:
    """A strategy's wall time; "not run" when it could not be (the reason is its "why")."""
    wall = row.get("wall_s")
    if wall is not None:
        return f"{wall:.2f}"
    return "not run" if row.get("skipped") else "failed"


def mib(size: float | None) -> str:
    return "-" if not size else f"{size / 2**20:.0f}"


def _level_name(data: dict[str, Any], level: float) -> str:
    return f"{level:g}" if data.get("model") == "closed" else f"{level:g}/s"


STREAM_METRICS = ("TTFT", "TPOT", "ITL")


def stream_cells(level: dict[str, Any]) -> list[str]:
    """p50 and p99 (ms) of each streaming metric, then output tokens/s; dashes for a level
    whose figures are not results."""
    stream = level["stats"].get("stream") or {}
    cells = []
    for metric in STREAM_METRICS:
        dist = stream.get(metric.lower()) or {}
        cells += [ms(dist.get("p50")), ms(dist.get("p99"))]
    if not level.get("valid"):
        cells = ["-"] * len(cells)
    return [*cells, f"{stream.get('output_tokens_per_s', 0):.0f}"]


def failures_text(failures: dict[str, int]) -> str:
    return ", ".join(f"{FAILURE_LABELS.get(k, k)}: {n}" for k, n in failures.items()) or "-"


def level_line(model: str, level: dict[str, Any]) -> str:
    """One line of progress for a level just measured."""
    stats = level["stats"]
    latency = stats.get("latency") or {}
    name = f"{level['level']:g} users" if model == "closed" else f"{level['level']:g} req/s"
    rate = stats.get("success_rate")
    text = (
        f"  {name}: {stats['requests']} requests, "
        f"{'-' if rate is None else f'{rate:.1%}'} ok, {stats['rps']:.1f} RPS, "
        f"p50 {ms(latency.get('p50'))} ms, p99 {ms(latency.get('p99'))} ms"
    )
    if stats.get("failures"):
        text += f"; failures: {failures_text(stats['failures'])}"
    status = level_status(level)
    if status != "ok":
        text += f"  [{status.upper()}]"
    return text


def health_text(level: dict[str, Any]) -> str:
    """The busiest generator process: CPU used (+ waited for), p99 loop lag in ms."""
    health = level.get("health") or []
    if not health:
        return "-"
    busiest = max(health, key=lambda h: h["cpu"] + h.get("cpu_wait", 0.0))
    wait = busiest.get("cpu_wait", 0.0)
    cpu = f"{busiest['cpu']:.0%}" + (f"+{wait:.0%}" if wait >= 0.005 else "")
    return f"{cpu} / {max(h['lag_p99'] for h in health) * 1000:.0f}"


def level_status(level: dict[str, Any]) -> str:
    """``"ok"``, ``"suspect"`` or ``"invalid"`` (reports written before "status" existed
    have only "valid")."""
    status = level.get("status")
    if status in ("ok", "suspect", "invalid"):
        return str(status)
    return "ok" if level.get("valid") else "invalid"


def status_text(level: dict[str, Any]) -> str:
    """The status cell: ok, INVALID, or SUSPECT with what to do about it."""
    status = level_status(level)
    if status == "invalid":
        return "[red]INVALID[/red]"
    if status == "suspect":
        return "[yellow]SUSPECT: add --workers[/yellow]"
    return "ok"


def print_load(console: Any, data: dict[str, Any]) -> None:
    """The load table (and the streaming table), then definitions, warnings and verdicts."""
    from rich.table import Table

    model = data.get("model") or "?"
    is_open = model == "open"
    title = f"Load test, {model} model" + (f" ({data['arrival']} arrivals)" if is_open else "")
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("rate" if is_open else "users", justify="right")
    for name in ("requests", "ok %", "RPS", "ok RPS"):
        table.add_column(name, justify="right")
    for name in ("avg ms", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(name, justify="right")
    table.add_column("failures")
    if is_open:
        table.add_column("sent/s", justify="right")
        table.add_column("late", justify="right")
    table.add_column("gen CPU(+wait) / lag ms", justify="right")
    table.add_column("status")
    for level in data.get("levels", []):
        stats = level["stats"]
        latency = stats.get("latency") or {}
        valid = level.get("valid")
        rate = stats.get("success_rate")
        figures = [ms(latency.get(k)) for k in ("mean", "p50", "p95", "p99", "max")]
        if not valid:
            figures = ["-"] * 5
        row = [
            _level_name(data, level["level"]),
            str(stats["requests"]),
            "-" if rate is None else f"{rate * 100:.1f}",
            f"{stats['rps']:.1f}",
            f"{stats['ok_rps']:.1f}",
            *figures,
            failures_text(stats.get("failures") or {}),
        ]
        if is_open:
            schedule = level.get("schedule") or {}
            row += [f"{schedule.get('send_rate', 0):.1f}", str(schedule.get("late", 0))]
        status = status_text(level)
        if level.get("interrupted"):
            status += " (interrupted)"
        row += [health_text(level), status]
        table.add_row(*row)
    console.print(table)
    if data.get("target", {}).get("stream"):
        _print_stream(console, data)
    _print_notes(console, data)


def _print_stream(console: Any, data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Streaming", title_justify="left", header_style="bold")
    table.add_column("rate" if data.get("model") == "open" else "users", justify="right")
    for metric in STREAM_METRICS:
        table.add_column(f"{metric} p50 ms", justify="right")
        table.add_column(f"{metric} p99 ms", justify="right")
    table.add_column("output tok/s", justify="right")
    table.add_column("goodput", justify="right")
    for level in data.get("levels", []):
        stats = level["stats"]
        goodput = stats.get("goodput_rps")
        share = stats.get("goodput_share")
        good = "-" if goodput is None else f"{goodput:.1f}/s ({(share or 0) * 100:.0f}%)"
        table.add_row(_level_name(data, level["level"]), *stream_cells(level), good)
    console.print(table)


def _print_notes(console: Any, data: dict[str, Any]) -> None:
    definitions = data.get("definitions", {})
    console.print(f"[dim]Model: {data.get('model_description', '')}[/dim]")
    console.print(
        f"[dim]Latency: {definitions.get('latency', '')}; "
        f"{definitions.get('latency_scope', '')}.[/dim]"
    )
    console.print(f"[dim]Percentiles: {definitions.get('percentiles', '')}.[/dim]")
    if data.get("slo"):
        slo = ", ".join(f"{k} <= {v * 1000:g} ms" for k, v in data["slo"].items() if v)
        console.print(f"[dim]Goodput SLO: {slo}.[/dim]")
    for level in data.get("levels", []):
        for reason in level.get("invalid_reasons", []):
            console.print(f"[red]Level {level['level']:g} is invalid: {reason}.[/red]")
        for reason in level.get("suspect_reasons", []):
            console.print(f"[yellow]Level {level['level']:g} is suspect: {reason}.[/yellow]")
    for warning in data.get("warnings", []):
        console.print(f"[yellow]Warning: {warning}.[/yellow]")
    if data.get("stopped_early"):
        console.print(f"[yellow]Stopped early: {data['stopped_early']}.[/yellow]")


def print_strategies(console: Any, data: dict[str, Any]) -> None:
    """The strategy table and the multi-agent table."""
    from rich.table import Table

    title = (
        f"{data.get('calls')} LLM calls of {data.get('latency_s', 0):g} s each "
        f"(blocking client: {data.get('blocking_client')})"
    )
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (
        ("strategy", "left"),
        ("wall s", "right"),
        ("speedup", "right"),
        ("calls/s", "right"),
        ("CPU s", "right"),
        ("peak RSS MiB", "right"),
        ("PSS MiB", "right"),
        ("why", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in data.get("strategies", []):
        table.add_row(
            row["label"],
            wall_text(row),
            "-" if not row.get("speedup") else f"{row['speedup']:.1f}x",
            "-" if not row.get("calls_per_s") else f"{row['calls_per_s']:.1f}",
            "-" if row.get("cpu_s") is None else f"{row['cpu_s']:.2f}",
            mib(row.get("peak_rss")),
            mib(row.get("pss")),
            row.get("explanation", ""),
        )
    console.print(table)
    agents = data.get("agents") or []
    if agents:
        steps = " s and ".join(f"{s:g}" for s in data.get("agent_steps_s", []))
        table = Table(
            title=f"Two independent agent steps of {steps} s (blocking model calls)",
            title_justify="left",
            header_style="bold",
        )
        table.add_column("how")
        table.add_column("wall s", justify="right")
        table.add_column("why")
        for row in agents:
            wall = row.get("wall_s")
            table.add_row(
                row["label"], "failed" if wall is None else f"{wall:.2f}", row["explanation"]
            )
        console.print(table)
    console.print(f"[dim]Memory: {data.get('definitions', {}).get('peak_rss', '')}[/dim]")
    if data.get("interrupted"):
        console.print("[yellow]Interrupted: only the rows above were measured.[/yellow]")
