"""Report data, plots and the HTML page (no browser here; see test_report_browser)."""

from __future__ import annotations

import json
from pathlib import Path

from sluice.bench._html import render_html
from sluice.bench._output import write_report
from sluice.bench._plots import load_plots, strategies_plots
from sluice.bench._report import read_reports

from .reports import load_data, strategies_data

PNG = b"\x89PNG\r\n\x1a\n"


def test_load_report_is_strict_json_with_every_figure_and_definition() -> None:
    data = load_data()
    text = json.dumps(data, allow_nan=False)  # no NaN or infinity anywhere
    again = json.loads(text)
    assert again["model"] == "open"
    assert "scheduled send time" in again["definitions"]["latency"]
    assert "nearest rank" in again["definitions"]["percentiles"]
    first = again["levels"][0]
    assert first["stats"]["requests"] == 201
    assert first["stats"]["failures"] == {"429": 1}
    assert first["stats"]["latency"]["p99"] > first["stats"]["latency"]["p50"] > 0
    assert first["stats"]["stream"]["ttft"]["count"] == 200
    assert first["stats"]["goodput"] is not None
    assert first["schedule"]["target_rate"] == 100.0
    assert first["valid"]
    last = again["levels"][-1]
    assert not last["valid"]
    assert "fell behind" in last["invalid_reasons"][0]


def test_plots_are_pngs_and_skip_invalid_levels() -> None:
    pngs = load_plots(load_data())
    assert set(pngs) == {"load-latency.png", "load-throughput.png", "load-stream.png"}
    assert all(png.startswith(PNG) for png in pngs.values())
    assert set(load_plots(load_data(stream=False))) == {"load-latency.png", "load-throughput.png"}
    empty = load_data()
    empty["levels"] = []
    assert load_plots(empty)["load-latency.png"].startswith(PNG)
    bars = strategies_plots(strategies_data())
    assert set(bars) == {"strategies.png", "agents.png"}
    assert all(png.startswith(PNG) for png in bars.values())


def test_html_embeds_every_plot_and_escapes_text() -> None:
    data = load_data(description="<script>alert(1)</script>")
    pngs = load_plots(data)
    page = render_html({"load": data}, pngs)
    assert page.count('src="data:image/png;base64,') == len(pngs)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "http://" not in page.split("<body>")[0]  # nothing fetched from elsewhere


def test_one_folder_collects_both_reports(tmp_path: Path) -> None:
    write_report(tmp_path, strategies_data())
    index = write_report(tmp_path, load_data())
    assert set(read_reports(tmp_path)) == {"load", "strategies"}
    page = index.read_text()
    assert "Strategies: the same LLM calls" in page
    assert "Load test: open model" in page
    assert page.count("data:image/png;base64,") == 5
    for name in ("load.json", "strategies.json", "strategies.png", "load-latency.png"):
        assert (tmp_path / name).is_file()
