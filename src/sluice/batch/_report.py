"""What a run reports of itself: its progress as it goes, and its result at the end, read
from the run's counters (`RunState`: what the runner keeps, seen through a protocol so this
module does not import the runner).

progress = progress_of(run)   # Progress(done=..., tokens_per_minute=..., limits=...)
result = result_of(run)       # BatchResult(...)
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from ..llm import Client
from ._cache import AnswerCache
from ._meter import Recent, limits_text
from ._options import BatchOptions
from ._plan import Plan
from ._result import BatchResult, Progress
from ._spend import Spending

__all__ = ["RunState", "progress_of", "result_of"]


class RunState(Protocol):
    """The counters of one run."""

    options: BatchOptions
    plan: Plan
    spending: Spending
    rates: Recent
    client: Client | None
    cache: AnswerCache | None
    started: float
    sent: int
    not_sent: int
    done: int
    failed: int
    malformed: int
    in_flight: int
    deduplicated: int
    stopped: str | None


def progress_of(run: RunState) -> Progress:
    """The run's counters now, with its rates over the last minute and its projections."""
    now = time.monotonic()
    elapsed = now - run.started
    rate = run.sent / elapsed * 60 if elapsed > 0 else math.nan
    plan = run.plan
    failed = run.failed + run.malformed + len(plan.carried)
    spending = run.spending
    finished = run.done + run.failed
    per_second, tokens_per_minute = run.rates.rates(now, finished, spending.tokens)
    total = len(plan.todo) + len(plan.carried)
    remaining = max(0, total - run.done - failed)
    eta = remaining / per_second if per_second > 0 else (0.0 if not remaining else None)
    spent = spending.spent_usd
    projected = None
    if spent is not None and spending.answers:
        projected = spent + spent / spending.answers * remaining
    return Progress(
        done=run.done,
        failed=failed,
        in_flight=run.in_flight,
        skipped_already_done=plan.skipped_done,
        elapsed=elapsed,
        per_minute=rate,
        total=total,
        tokens_per_minute=tokens_per_minute,
        spent_usd=spent,
        projected_usd=projected,
        eta_seconds=eta,
        limits="" if run.client is None else limits_text(run.client.statistics().gate),
    )


def result_of(run: RunState) -> BatchResult:
    """The run's end as its `BatchResult`."""
    options = run.options
    return BatchResult(
        output=options.output,
        failed_path=options.failed_path,
        journal_path=options.journal_path,
        lines=run.plan.lines,
        sent=run.sent,
        not_sent=run.not_sent,
        done=run.done,
        failed=run.failed + len(run.plan.carried),
        malformed=run.malformed,
        skipped_already_done=run.plan.skipped_done,
        deduplicated=run.deduplicated,
        repeated_lines=run.plan.repeats,
        stopped=run.stopped,
        elapsed=time.monotonic() - run.started,
        spent_usd=run.spending.spent_usd,
        cache_hits=run.cache.hits if run.cache is not None else 0,
    )
