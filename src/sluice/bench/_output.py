"""Writing a report folder: the JSON data, its PNG plots and one ``index.html``.

Each command writes its own JSON file (``load.json``, ``strategies.json``); the plots and the
page are then rebuilt from every report in the folder, so ``sluice bench strategies`` and
``sluice bench load`` pointed at the same folder give one page with both.

    index = write_report(Path("sluice-report"), data)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._html import render_html
from ._plots import load_plots, strategies_plots
from ._report import LOAD_FILE, STRATEGIES_FILE, read_reports, write_json

__all__ = ["write_report"]


def write_report(folder: Path, data: dict[str, Any]) -> Path:
    """Save ``data`` in ``folder``, redraw the plots and the page; the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / (LOAD_FILE if data["kind"] == "load" else STRATEGIES_FILE), data)
    reports = read_reports(folder)
    pngs: dict[str, bytes] = {}
    if "load" in reports:
        pngs.update(load_plots(reports["load"]))
    if "strategies" in reports:
        pngs.update(strategies_plots(reports["strategies"]))
    for name, png in pngs.items():
        (folder / name).write_bytes(png)
    index = folder / "index.html"
    index.write_text(render_html(reports, pngs), encoding="utf-8")
    return index
