"""What a batch run reports: its progress as it goes, and its result at the end.

result = sluice.batch.run_sync("in.jsonl", "out.jsonl", base_url=url)
print(result.done, result.failed, result.succeeded)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["BatchResult", "Progress"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A run's counters at one moment: answers written, failures (malformed lines and
    failures carried from earlier runs included), requests in flight, ids skipped as done by
    an earlier run, seconds since the start, and requests sent per minute.

        sluice.batch.run_sync(..., progress=lambda p: print(p.line()))
    """

    done: int
    failed: int
    in_flight: int
    skipped_already_done: int
    elapsed: float
    per_minute: float

    def line(self) -> str:
        """The progress as one log line."""
        return (
            f"done {self.done}  failed {self.failed}  in flight {self.in_flight}  "
            f"skipped {self.skipped_already_done}  {self.per_minute:.0f} req/min  "
            f"{self.elapsed:.0f} s"
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The end of a run.

        ``done`` counts output lines written by this run (``deduplicated`` of them answered from
        another request with the same body, ``cache_hits`` from the answer cache of earlier
        runs), ``sent`` the requests sent and answered (or failed);
    ``not_sent`` those a stop caught before they left (waiting in the gate), left for the next
    run;
        ``failed`` the failures in the failed file apart from the ``malformed`` input lines
        (those of earlier runs not tried again included); ``skipped_already_done`` the ids an
        earlier run completed; ``repeated_lines`` the lines repeating an earlier line exactly;
        ``stopped`` why the run stopped before the end (``--max-failures``, interrupted), or
        None. ``succeeded``: everything in the input has its answer in the output.

            result = await sluice.batch.run("in.jsonl", "out.jsonl", base_url=url)
            if not result.succeeded:
                print(f"see {result.failed_path}")
    """

    output: Path
    failed_path: Path
    journal_path: Path
    lines: int
    sent: int
    not_sent: int
    done: int
    failed: int
    malformed: int
    skipped_already_done: int
    deduplicated: int
    repeated_lines: int
    stopped: str | None
    elapsed: float
    cache_hits: int = 0

    @property
    def succeeded(self) -> bool:
        return self.failed == 0 and self.malformed == 0 and self.stopped is None

    def summary(self) -> str:
        """The result in one line."""
        parts = [
            f"done {self.done}",
            f"failed {self.failed}",
            f"malformed {self.malformed}",
            f"skipped (already done) {self.skipped_already_done}",
            f"deduplicated {self.deduplicated}",
            *([f"from the cache {self.cache_hits}"] if self.cache_hits else []),
            f"sent {self.sent}",
            f"in {self.elapsed:.1f} s",
        ]
        tail = f"; stopped early: {self.stopped}" if self.stopped else ""
        return ", ".join(parts) + tail
