"""The shards of a job put back together: their output parts into the user's output, their
failed parts into one failed file, their results into one.

The parts are the job's state (each shard's journal points into its own part); the output
and failed file are rebuilt from them at the end of every run, written beside and renamed
over the old ones, so a kill during a merge leaves the previous output whole. Each id is in
one shard and each shard has at most one line per id, so the merged output has one line per
custom_id; only whole lines are taken (a torn last line of a part is left out).

    lines = merge_files(layout.parts, layout.output)
    merge_files(layout.failed_parts, layout.failed)
    result = combine(results, layout, elapsed=12.5)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from ._output import last_newline_end
from ._result import BatchResult, Progress
from ._shard import ShardLayout

__all__ = ["combine", "combine_progress", "merge_files"]

_CHUNK = 1 << 20


def merge_files(parts: Sequence[Path], destination: Path) -> int:
    """Write the whole lines of ``parts`` (missing ones skipped), in order, to
    ``destination``, replacing it at once; the number of lines written."""
    temporary = destination.with_name(destination.name + ".merging")
    lines = 0
    with open(temporary, "wb") as out:
        for part in parts:
            if part.exists():
                lines += _copy_whole_lines(part, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, destination)
    return lines


def _copy_whole_lines(part: Path, out: BinaryIO) -> int:
    size = part.stat().st_size
    with open(part, "rb") as source:
        end = last_newline_end(source, size)
        source.seek(0)
        remaining = end
        copied = 0
        while remaining > 0:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            copied += chunk.count(b"\n")
            out.write(chunk)
    return copied


def combine(results: Sequence[BatchResult], layout: ShardLayout, elapsed: float) -> BatchResult:
    """One result for the job from its shards' results (counts added; the first reason to
    stop early kept)."""
    stopped = next((result.stopped for result in results if result.stopped), None)
    return BatchResult(
        output=layout.output,
        failed_path=layout.failed,
        journal_path=layout.directory,
        lines=sum(result.lines for result in results),
        sent=sum(result.sent for result in results),
        not_sent=sum(result.not_sent for result in results),
        done=sum(result.done for result in results),
        failed=sum(result.failed for result in results),
        malformed=sum(result.malformed for result in results),
        skipped_already_done=sum(result.skipped_already_done for result in results),
        deduplicated=sum(result.deduplicated for result in results),
        repeated_lines=sum(result.repeated_lines for result in results),
        stopped=stopped,
        elapsed=elapsed,
        spent_usd=_total([result.spent_usd for result in results]),
        cache_hits=sum(result.cache_hits for result in results),
    )


def combine_progress(progresses: Sequence[Progress], elapsed: float) -> Progress:
    """The job's progress from its shards' latest ones (the limits as the first shard shows
    them: the same for all through a shared Redis, a share of the job's otherwise)."""
    totals = [progress.total for progress in progresses]
    etas = [progress.eta_seconds for progress in progresses if progress.eta_seconds is not None]
    return Progress(
        done=sum(progress.done for progress in progresses),
        failed=sum(progress.failed for progress in progresses),
        in_flight=sum(progress.in_flight for progress in progresses),
        skipped_already_done=sum(progress.skipped_already_done for progress in progresses),
        elapsed=elapsed,
        per_minute=sum(p.per_minute for p in progresses if not math.isnan(p.per_minute)),
        total=None if None in totals else sum(total for total in totals if total is not None),
        tokens_per_minute=sum(progress.tokens_per_minute for progress in progresses),
        spent_usd=_total([progress.spent_usd for progress in progresses]),
        projected_usd=_total([progress.projected_usd for progress in progresses]),
        eta_seconds=max(etas) if etas else None,
        limits=next((progress.limits for progress in progresses if progress.limits), ""),
    )


def _total(amounts: Sequence[float | None]) -> float | None:
    """The sum of the amounts known; None if none is."""
    known = [amount for amount in amounts if amount is not None]
    return sum(known) if known else None
