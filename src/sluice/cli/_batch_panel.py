"""The live panel of ``sluice run`` on a terminal (needs ``rich``, in the ``bench`` extra).

It renders a `sluice.batch.Progress`: the counters every Progress has, and the figures that
some carry (tokens per minute, dollars spent and projected, the ETA, the current limits, the
total), each shown only when the Progress has it and it is known. Redrawn at most
`MAX_REFRESH_HZ` times a second, whatever the rate of updates.

    with BatchPanel(Console(stderr=True), "in.jsonl", "out.jsonl") as panel:
        sluice.batch.run_sync(..., progress=panel.update, progress_every=PANEL_EVERY)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from ..batch._result import short_duration

__all__ = ["MAX_REFRESH_HZ", "PANEL_EVERY", "BatchPanel", "render_progress"]

MAX_REFRESH_HZ = 4.0
PANEL_EVERY = 1 / MAX_REFRESH_HZ
"""Seconds between the progress reports a panel asks the run for."""


def _known(progress: Any, name: str) -> Any:
    """A figure the Progress may carry; None when absent or unknown (NaN)."""
    value = getattr(progress, name, None)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _count(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}"


def _usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"  # cents matter on small runs


def _limits(limits: Any) -> list[str]:
    if isinstance(limits, str):
        return [limits] if limits else []
    if isinstance(limits, Mapping):
        return [f"{name} {value}" for name, value in limits.items()]
    if isinstance(limits, Iterable):
        return [str(item) for item in limits]
    return [str(limits)]


def render_progress(progress: Any, title: str = "sluice run") -> Panel:
    """The panel for one `Progress` (any object with its fields)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column()
    done = progress.done
    total = _known(progress, "total")
    if isinstance(total, int) and total > 0:
        share = min(1.0, (done + progress.failed) / total)  # total: what done + failed reach
        table.add_row("finished", f"{share:.0%}", ProgressBar(completed=share, total=1.0, width=30))
        table.add_row("done", f"{done}", f"of {total}")
    else:
        table.add_row("done", f"{done}", "")
    table.add_row("failed", f"{progress.failed}", "")
    table.add_row("in flight", f"{progress.in_flight}", "")
    if progress.skipped_already_done:
        table.add_row("skipped", f"{progress.skipped_already_done}", "done by an earlier run")
    rate = _known(progress, "per_minute")
    tokens = _known(progress, "tokens_per_minute")
    table.add_row(
        "rate",
        "-" if rate is None else f"{rate:.0f} req/min",
        "" if tokens is None else f"{_count(tokens)} tokens/min",
    )
    spent, projected = _known(progress, "spent_usd"), _known(progress, "projected_usd")
    if spent is not None or projected is not None:
        table.add_row(
            "cost",
            "-" if spent is None else f"{_usd(spent)} spent",
            "" if projected is None else f"{_usd(projected)} projected",
        )
    eta = _known(progress, "eta_seconds")
    table.add_row(
        "elapsed",
        short_duration(progress.elapsed),
        "" if eta is None else f"ETA {short_duration(eta)}",
    )
    limits = _known(progress, "limits")
    for index, limit in enumerate(_limits(limits) if limits is not None else []):
        table.add_row("limits" if index == 0 else "", "", limit)
    return Panel(table, title=title, title_align="left", expand=False)


class BatchPanel:
    """A live panel on ``console``, started on enter and always stopped on exit."""

    def __init__(self, console: Console, input: str, output: str) -> None:
        self._title = f"sluice run  {input} -> {output}"
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._last = -math.inf

    def __enter__(self) -> BatchPanel:
        self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._live.stop()

    @property
    def running(self) -> bool:
        return self._live.is_started

    def update(self, progress: Any) -> None:
        """Show ``progress``; redrawn at most `MAX_REFRESH_HZ` times a second, the final
        report (nothing in flight) always."""
        now = time.monotonic()
        final = progress.in_flight == 0
        if not final and now - self._last < 1 / MAX_REFRESH_HZ:
            return
        self._last = now
        self._live.update(render_progress(progress, self._title), refresh=True)
