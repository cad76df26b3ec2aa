"""The live panel of ``sluice run``, rendered in-process on a recording console."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from rich.console import Console

import sluice.cli._batch_panel as panel_module
from sluice.batch import Progress
from sluice.cli._batch_panel import BatchPanel, render_progress


@dataclass(frozen=True)
class _Fuller(Progress):
    """A Progress carrying the optional figures the panel shows when present."""

    tokens_per_minute: float | None = None
    spent_usd: float | None = None
    projected_usd: float | None = None
    eta_seconds: float | None = None
    limits: Any = None
    total: int | None = None


def _console() -> Console:
    return Console(file=io.StringIO(), record=True, force_terminal=True, width=100)


def _text(renderable: Any) -> str:
    console = _console()
    console.print(renderable)
    return console.export_text()


def test_the_counters_every_progress_has() -> None:
    text = _text(render_progress(Progress(4120, 3, 64, 17, 84.0, 2950.4)))
    for figure in ("4120", "3", "64", "17", "2950 req/min", "0 tokens/min", "1m24s"):
        assert figure in text
    for absent in ("spent", "ETA", "limits", "%"):
        assert absent not in text


def test_the_figures_a_progress_may_carry() -> None:
    progress = _Fuller(
        4120, 3, 64, 250, 84.0, 2950.0,
        tokens_per_minute=184_000.0, spent_usd=1.234, projected_usd=0.5, eta_seconds=123.0,
        limits={"rpm": "3000 (x-ratelimit-limit-requests)", "concurrency": 48}, total=10_000,
    )  # fmt: skip
    text = _text(render_progress(progress))
    for figure in ("184k tokens/min", "$1.23 spent", "$0.5000 projected", "ETA 2m03s",
                   "rpm 3000 (x-ratelimit-limit-requests)", "concurrency 48",
                   "of 10000", "41%"):  # fmt: skip
        assert figure in text
    assert "250" in text  # skipped: done by an earlier run, outside the total


def test_unknown_figures_are_left_out() -> None:
    progress = _Fuller(1, 0, 1, 0, 2.0, float("nan"), eta_seconds=float("nan"), limits="")
    text = _text(render_progress(progress))
    assert "ETA" not in text
    assert "limits" not in text
    assert "nan" not in text.lower()


def test_the_live_panel_redraws_at_a_bounded_rate_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renders: list[Any] = []
    real = panel_module.render_progress

    def counting(progress: Any, title: str = "") -> Any:
        renders.append(progress)
        return real(progress, title)

    monkeypatch.setattr(panel_module, "render_progress", counting)
    console = _console()
    with BatchPanel(console, "in.jsonl", "out.jsonl") as panel:
        assert panel.running
        for done in range(100):  # a burst of reports inside one refresh period
            panel.update(Progress(done, 0, 5, 0, 1.0, 60.0))
        panel.update(Progress(100, 0, 0, 0, 2.0, 60.0))  # the last: always drawn
    assert not panel.running
    assert [progress.done for progress in renders] == [0, 100]
    text = console.export_text()
    assert "in.jsonl -> out.jsonl" in text
    assert "100" in text


def test_the_panel_stops_when_the_run_raises() -> None:
    panel = BatchPanel(_console(), "a", "b")

    def interrupted_run() -> None:
        with panel:
            panel.update(Progress(1, 0, 1, 0, 1.0, 60.0))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    assert not panel.running
