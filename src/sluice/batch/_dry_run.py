"""``--dry-run``: read the input, the journal and the output as a run would, send nothing,
write nothing, and report what the run would send and cost (see `_estimate`).

    result = await asyncio.to_thread(dry_run, options)
    print(result.estimate.summary())
"""

from __future__ import annotations

import time

from ._estimate import estimate_plan
from ._journal import Journal, JournalState
from ._options import BatchOptions
from ._output import custom_ids_after, output_truncated
from ._plan import Plan, check_input
from ._result import BatchResult
from ._spend import Spending

__all__ = ["dry_run"]


def dry_run(options: BatchOptions) -> BatchResult:
    """The estimate of a run with ``options``, as a result with nothing sent (blocking: run
    it on a thread)."""
    started = time.monotonic()
    input_path = check_input(options.input)
    # No journal yet: nothing is done. Opening one would create it, and a dry run leaves
    # no file behind.
    exists = options.journal_path.exists()
    state = Journal(options.journal_path).load() if exists else JournalState()
    output = options.output
    size = output.stat().st_size if output.exists() else 0
    if size < state.output_offset:
        raise output_truncated(output, size, options.journal_path, state.output_offset)
    if size > state.output_offset:
        tail = custom_ids_after(output, state.output_offset)
        state.done.update(custom_id for custom_id, _ in tail)
    plan = Plan.make(input_path, state, options.journal_path, retry_failed=options.retry_failed)
    Spending.start(options.prices, options.max_cost, plan.models)  # refuses unpriced models
    estimate = estimate_plan(plan, options.prices, dedup=options.dedup, max_cost=options.max_cost)
    return BatchResult(
        output=options.output,
        failed_path=options.failed_path,
        journal_path=options.journal_path,
        lines=plan.lines,
        sent=0,
        not_sent=estimate.requests,
        done=0,
        failed=len(plan.carried),
        malformed=estimate.malformed,
        skipped_already_done=plan.skipped_done,
        deduplicated=estimate.deduplicated,
        repeated_lines=plan.repeats,
        stopped=None,
        elapsed=time.monotonic() - started,
        spent_usd=0.0,
        estimate=estimate,
    )
