"""PNG plots of the reports (matplotlib, Agg canvas; imported only when plotting).

Figures are built with matplotlib's object API (no pyplot global state) and returned as PNG
bytes, keyed by file name. Only valid levels are drawn: an open-model level where the
generator fell behind is not a result.

    pngs = load_plots(report)     # {"load-latency.png": b"\\x89PNG...", ...}
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["load_plots", "strategies_plots"]

_SIZE = (7.5, 4.2)
_DPI = 100


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = _SIZE) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _ms(value: float | None) -> float:
    return float("nan") if value is None else value * 1000.0


def _x_label(data: dict[str, Any]) -> str:
    return "concurrency (users)" if data.get("model") == "closed" else "target rate (requests/s)"


def _valid(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [level for level in data.get("levels", []) if level.get("valid")]


def _frame(axes: Any, xlabel: str, ylabel: str) -> None:
    """The look every level plot shares: labels, a zero-based y axis, a light grid, a legend."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")


def _empty(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def load_plots(data: dict[str, Any]) -> dict[str, bytes]:
    """Latency percentiles and throughput against the level; token figures when streamed."""
    levels = _valid(data)
    xs = [level["level"] for level in levels]
    model = data.get("model") or "?"
    plots: dict[str, bytes] = {}

    figure = _figure()
    axes = figure.add_subplot()
    if levels:
        for key, style in (("max", ":"), ("p99", "-"), ("p95", "-"), ("p50", "-"), ("mean", "--")):
            ys = [_ms((level["stats"]["latency"] or {}).get(key)) for level in levels]
            axes.plot(xs, ys, style, marker="o", label="avg" if key == "mean" else key)
        _frame(axes, _x_label(data), "latency (ms)")
    else:
        _empty(axes, "no valid level to plot")
    axes.set_title(f"Latency of successful requests ({model} model)")
    plots["load-latency.png"] = _png(figure)

    figure = _figure()
    axes = figure.add_subplot()
    if levels:
        axes.plot(xs, [level["stats"]["rps"] for level in levels], marker="o", label="RPS")
        axes.plot(
            xs, [level["stats"]["ok_rps"] for level in levels], marker="s", label="successful RPS"
        )
        if any(level["stats"].get("goodput_rps") is not None for level in levels):
            goodput = [level["stats"].get("goodput_rps") or 0.0 for level in levels]
            axes.plot(xs, goodput, marker="^", label="goodput (within SLO)")
        if model == "open":
            axes.plot(xs, xs, ":", color="grey", label="target rate")
        _frame(axes, _x_label(data), "requests / s")
    else:
        _empty(axes, "no valid level to plot")
    axes.set_title(f"Throughput ({model} model)")
    plots["load-throughput.png"] = _png(figure)

    if data.get("target", {}).get("stream"):
        plots["load-stream.png"] = _stream_plot(data, levels, xs)
    return plots


def _stream_plot(data: dict[str, Any], levels: list[dict[str, Any]], xs: list[float]) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    streams = [level["stats"].get("stream") or {} for level in levels]
    if levels:
        for metric in ("ttft", "tpot"):
            for key, style in (("p50", "-"), ("p99", "--")):
                ys = [_ms((s.get(metric) or {}).get(key)) for s in streams]
                axes.plot(xs, ys, style, marker="o", label=f"{metric.upper()} {key}")
        _frame(axes, _x_label(data), "milliseconds")
        tokens = axes.twinx()
        tokens.plot(
            xs,
            [s.get("output_tokens_per_s", 0.0) for s in streams],
            "k:",
            marker="x",
            label="tok/s",
        )
        tokens.set_ylabel("output tokens / s (dotted)")
        tokens.set_ylim(bottom=0)
    else:
        _empty(axes, "no valid level to plot")
    axes.set_title("Streaming: time to first token, time per output token, tokens/s")
    return _png(figure)


def _bars(axes: Any, rows: list[dict[str, Any]], colour: str, *, speedups: bool) -> None:
    names = [row["label"] for row in rows][::-1]
    walls = [row["wall_s"] for row in rows][::-1]
    bars = axes.barh(names, walls, color=colour)
    for bar, row in zip(bars, rows[::-1], strict=True):
        speedup = row.get("speedup") if speedups else None
        text = f" {row['wall_s']:.2f} s" + (f"  ({speedup:.1f}x)" if speedup else "")
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center")
    axes.set_xlim(right=max(walls) * 1.3)
    axes.set_xlabel("wall time (s), lower is better")
    axes.grid(axis="x", alpha=0.3)


def strategies_plots(data: dict[str, Any]) -> dict[str, bytes]:
    """Wall time per strategy, and of the multi-agent case, as horizontal bar charts."""
    rows = [row for row in data.get("strategies", []) if row.get("wall_s") is not None]
    plots: dict[str, bytes] = {}
    figure = _figure(size=(9.0, 4.2))
    axes = figure.add_subplot()
    if rows:
        _bars(axes, rows, "#1f77b4", speedups=True)
    else:
        _empty(axes, "no strategy measured")
    axes.set_title(
        f"{data.get('calls', '?')} LLM calls of {data.get('latency_s', 0):g} s each "
        "(speedup over sequential)"
    )
    plots["strategies.png"] = _png(figure)
    agents = [row for row in data.get("agents", []) if row.get("wall_s") is not None]
    if agents:
        figure = _figure(size=(9.0, 2.4))
        axes = figure.add_subplot()
        _bars(axes, agents, "#ff7f0e", speedups=False)
        steps = " s and ".join(f"{s:g}" for s in data.get("agent_steps_s") or [])
        axes.set_title(f"Two independent agent steps of {steps} s")
        plots["agents.png"] = _png(figure)
    return plots
