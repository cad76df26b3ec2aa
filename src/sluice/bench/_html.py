"""One self-contained HTML page for the reports: tables, definitions and embedded plots.

Nothing is fetched when the page opens: styles are inline and every plot is a PNG embedded as
a ``data:`` URI, so the file can be mailed, archived or opened offline.

    page = render_html({"load": load_data, "strategies": strategies_data}, pngs)
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from ._console import (
    STREAM_METRICS,
    failures_text,
    health_text,
    level_status,
    mib,
    ms,
    stream_cells,
    wall_text,
)

__all__ = ["render_html"]

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2530;
       margin: 2rem auto; max-width: 1180px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; }
.meta, .note { color: #5a6472; font-size: .9rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .88rem; }
th, td { border-bottom: 1px solid #dde2e8; padding: .3rem .55rem; text-align: right; }
th { background: #f3f5f8; } td.l, th.l { text-align: left; }
.invalid { color: #b3261e; font-weight: 600; } .warn { color: #8a5a00; }
figure { margin: 1rem 0; } img { max-width: 100%; border: 1px solid #e4e8ee; }
code { background: #f3f5f8; padding: 0 .25rem; border-radius: 3px; }
"""


def _img(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}" '
        f'data-name="{escape(name)}"></figure>'
    )


def _table(headers: list[str], rows: list[list[str]], left: set[int]) -> str:
    def cell(tag: str, index: int, text: str) -> str:
        cls = ' class="l"' if index in left else ""
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, escape(h)) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _load_section(data: dict[str, Any], pngs: dict[str, bytes]) -> str:
    model = data.get("model") or "?"
    is_open = model == "open"
    target = data.get("target") or {}
    parts = [f"<h2>Load test: {escape(model)} model</h2>"]
    parts.append(
        f'<p class="meta">{escape(data.get("created", ""))} &middot; '
        f"target: {escape(str(target.get('description', '')))}"
        + (f" &middot; {data['workers']} generator process(es)" if data.get("workers") else "")
        + "</p>"
    )
    parts.append(f"<p>{escape(data.get('model_description', ''))}</p>")
    if data.get("error"):
        parts.append(f'<p class="invalid">{escape(data["error"])}</p>')
    headers = ["rate" if is_open else "users", "requests", "ok %", "RPS", "ok RPS"]
    headers += ["avg ms", "p50 ms", "p95 ms", "p99 ms", "max ms", "failures"]
    if is_open:
        headers += ["sent/s", "late sends"]
    headers += ["gen CPU(+wait) / lag ms", "status"]
    rows = []
    for level in data.get("levels", []):
        stats = level["stats"]
        latency = stats.get("latency") or {}
        rate = stats.get("success_rate")
        valid = level.get("valid")
        figures = [ms(latency.get(k)) for k in ("mean", "p50", "p95", "p99", "max")]
        row = [
            f"{level['level']:g}",
            str(stats["requests"]),
            "-" if rate is None else f"{rate * 100:.1f}",
            f"{stats['rps']:.1f}",
            f"{stats['ok_rps']:.1f}",
            *(figures if valid else ["-"] * 5),
            escape(failures_text(stats.get("failures") or {})),
        ]
        if is_open:
            schedule = level.get("schedule") or {}
            row += [f"{schedule.get('send_rate', 0):.1f}", str(schedule.get("late", 0))]
        status = {
            "invalid": '<span class="invalid">invalid</span>',
            "suspect": '<span class="warn">suspect: add --workers</span>',
        }.get(level_status(level), "ok")
        row.append(health_text(level))
        row.append(status + (" (interrupted)" if level.get("interrupted") else ""))
        rows.append(row)
    parts.append(_table(headers, rows, {len(headers) - 1, 10}))
    if target.get("stream"):
        parts.append(_stream_table(data))
    definitions = data.get("definitions") or {}
    notes = [
        f"Latency: {definitions.get('latency', '')}; {definitions.get('latency_scope', '')}.",
        f"Percentiles: {definitions.get('percentiles', '')}.",
        f"Requests: {definitions.get('requests', '')}. RPS: {definitions.get('rps', '')}.",
    ]
    parts += [f'<p class="note">{escape(n)}</p>' for n in notes]
    for level in data.get("levels", []):
        for reason in level.get("invalid_reasons", []):
            text = f"Level {level['level']:g} is invalid: {reason}."
            parts.append(f'<p class="invalid">{escape(text)}</p>')
        for reason in level.get("suspect_reasons", []):
            text = f"Level {level['level']:g} is suspect: {reason}."
            parts.append(f'<p class="warn">{escape(text)}</p>')
    for warning in data.get("warnings", []):
        parts.append(f'<p class="warn">Warning: {escape(warning)}.</p>')
    if data.get("stopped_early"):
        parts.append(f'<p class="warn">Stopped early: {escape(data["stopped_early"])}.</p>')
    if data.get("interrupted"):
        parts.append('<p class="warn">Interrupted: a partial report of what was measured.</p>')
    for name, alt in (
        ("load-latency.png", "latency percentiles against the level"),
        ("load-throughput.png", "requests per second against the level"),
        ("load-stream.png", "streaming figures against the level"),
    ):
        if name in pngs:
            parts.append(_img(name, pngs[name], alt))
    return "\n".join(parts)


def _stream_table(data: dict[str, Any]) -> str:
    headers = ["level"]
    for metric in STREAM_METRICS:
        headers += [f"{metric} p50 ms", f"{metric} p99 ms"]
    headers += ["output tok/s", "goodput/s"]
    rows = []
    for level in data.get("levels", []):
        goodput = level["stats"].get("goodput_rps")
        good = "-" if goodput is None else f"{goodput:.1f}"
        rows.append([f"{level['level']:g}", *stream_cells(level), good])
    return _table(headers, rows, set())


def _strategies_section(data: dict[str, Any], pngs: dict[str, bytes]) -> str:
    parts = ["<h2>Strategies: the same LLM calls, made different ways</h2>"]
    parts.append(
        f'<p class="meta">{escape(data.get("created", ""))} &middot; '
        f"{data.get('calls')} calls of {data.get('latency_s', 0):g} s against the embedded "
        f"simulator &middot; blocking client: {escape(str(data.get('blocking_client')))} "
        f"&middot; async client: {escape(str(data.get('async_client')))}</p>"
    )
    headers = ["strategy", "wall s", "speedup", "calls/s", "CPU s", "peak RSS MiB", "PSS MiB"]
    headers.append("why")
    rows = [
        [
            escape(row["label"]),
            wall_text(row),
            "-" if not row.get("speedup") else f"{row['speedup']:.1f}x",
            "-" if not row.get("calls_per_s") else f"{row['calls_per_s']:.1f}",
            "-" if row.get("cpu_s") is None else f"{row['cpu_s']:.2f}",
            mib(row.get("peak_rss")),
            mib(row.get("pss")),
            escape(row.get("explanation", "")),
        ]
        for row in data.get("strategies", [])
    ]
    parts.append(_table(headers, rows, {0, 7}))
    agents = data.get("agents") or []
    if agents:
        steps = " s and ".join(f"{s:g}" for s in data.get("agent_steps_s", []))
        parts.append(f"<h3>Two independent agent steps of {escape(steps)} s</h3>")
        rows = [
            [
                escape(row["label"]),
                "failed" if row.get("wall_s") is None else f"{row['wall_s']:.2f}",
                escape(row.get("explanation", "")),
            ]
            for row in agents
        ]
        parts.append(_table(["how", "wall s", "why"], rows, {0, 2}))
    definitions = data.get("definitions") or {}
    parts.append(f'<p class="note">Memory: {escape(definitions.get("peak_rss", ""))}</p>')
    parts.append(f'<p class="note">CPU: {escape(definitions.get("cpu_s", ""))}.</p>')
    if data.get("interrupted"):
        parts.append('<p class="warn">Interrupted: only the rows above were measured.</p>')
    if "strategies.png" in pngs:
        parts.append(_img("strategies.png", pngs["strategies.png"], "wall time per strategy"))
    if "agents.png" in pngs:
        parts.append(_img("agents.png", pngs["agents.png"], "wall time of the agent steps"))
    return "\n".join(parts)


def render_html(reports: dict[str, dict[str, Any]], pngs: dict[str, bytes]) -> str:
    """The page for whichever reports are given (``"load"``, ``"strategies"``)."""
    sections = []
    if "strategies" in reports:
        sections.append(_strategies_section(reports["strategies"], pngs))
    if "load" in reports:
        sections.append(_load_section(reports["load"], pngs))
    if not sections:
        sections.append("<p>No report in this folder yet.</p>")
    footer = (
        "<h2>Run it yourself</h2><p><code>sluice bench strategies</code> compares the "
        "strategies; <code>sluice bench load --concurrency 50,100,200</code> (closed model) or "
        "<code>--rate 100,200,400</code> (open model) load-tests the embedded simulator, and "
        "<code>sluice bench load http://HOST:PORT/v1</code> any OpenAI-compatible endpoint. "
        "Every figure is also in the JSON files next to this page.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>sluice report</title><style>{_STYLE}</style></head><body>"
        "<h1>sluice report</h1>"
        '<p class="meta">Measured on this machine; flow control for AI calls.</p>'
        + "\n".join(sections)
        + footer
        + "</body></html>\n"
    )
