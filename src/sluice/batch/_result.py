"""What a batch run reports: its progress as it goes, and its result at the end.

result = sluice.batch.run_sync("in.jsonl", "out.jsonl", base_url=url)
print(result.done, result.failed, result.succeeded)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._estimate import Estimate

__all__ = ["BatchResult", "Progress", "short_duration"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A run's counters at one moment.

    - ``done``: answers written by this run; ``failed``: failures (malformed lines and
      failures carried from earlier runs included); ``in_flight``: requests sent or waiting
      in the gate; ``skipped_already_done``: ids an earlier run completed.
    - ``elapsed``: seconds since the start; ``per_minute``: requests sent per minute since the
      start.
    - ``total``: what ``done + failed`` reach when the run ends without a stop (the requests
      to send or to answer from an identical one, the malformed lines, the failures carried);
      None when not known. ``total - done - failed`` is what remains.
    - ``tokens_per_minute``: tokens (prompt + completion, from the answers' ``usage``) per
      minute over the last minute.
    - ``spent_usd``: what the answers so far cost, from their usage (plus the estimate of
      those that failed without an answer); None unless every model the run sends has a
      price. ``projected_usd``: the spend at the end at the cost per answer so far; None
      before the first answer or without prices.
    - ``eta_seconds``: seconds until ``total`` is reached at the rate of the last minute's
      completions; None before the first completion.
    - ``limits``: the client gate's current limits, e.g. ``"rpm 500, tpm 200000,
      concurrency 24 (probe up)"``, with why the adaptive concurrency last changed, an open
      breaker and a pause the server asked for; empty when not known.

        sluice.batch.run_sync(..., progress=lambda p: print(p.line()))
    """

    done: int
    failed: int
    in_flight: int
    skipped_already_done: int
    elapsed: float
    per_minute: float
    total: int | None = None
    tokens_per_minute: float = 0.0
    spent_usd: float | None = None
    projected_usd: float | None = None
    eta_seconds: float | None = None
    limits: str = ""

    def line(self) -> str:
        """The progress as one log line."""
        parts = [
            f"done {self.done}" + (f"/{self.total}" if self.total is not None else ""),
            f"failed {self.failed}",
            f"in flight {self.in_flight}",
            f"skipped {self.skipped_already_done}",
            f"{self.per_minute:.0f} req/min",
            f"{self.tokens_per_minute:.0f} tok/min",
        ]
        if self.spent_usd is not None:
            projected = "" if self.projected_usd is None else f" of ~{_usd(self.projected_usd)}"
            parts.append(f"{_usd(self.spent_usd)}{projected}")
        if self.eta_seconds is not None:
            parts.append(f"ETA {short_duration(self.eta_seconds)}")
        parts.append(f"{self.elapsed:.0f} s")
        if self.limits:
            parts.append(f"[{self.limits}]")
        return "  ".join(parts)


def _usd(amount: float) -> str:
    return f"${amount:.2f}" if amount >= 10 else f"${amount:.4f}"


def short_duration(seconds: float) -> str:
    """``seconds`` as a progress line shows them: ``45s``, ``3m05s``, ``2h07m``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


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
        ``stopped`` why the run stopped before the end (``--max-failures``, ``max cost``,
        interrupted), or None. ``succeeded``: everything in the input has its answer in the
        output. ``spent_usd``: what this run's answers cost (see `Progress`), None unless
        every model it sent has a price. ``estimate``: a dry run's figures (nothing sent).

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
    spent_usd: float | None = None
    estimate: Estimate | None = None
    cache_hits: int = 0

    @property
    def succeeded(self) -> bool:
        return self.failed == 0 and self.malformed == 0 and self.stopped is None

    def summary(self) -> str:
        """The result in one line (a dry run: its estimate, a few lines)."""
        if self.estimate is not None:
            return self.estimate.summary()
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
        if self.spent_usd is not None:
            parts.insert(-1, f"spent ${self.spent_usd:.4f}")
        tail = f"; stopped early: {self.stopped}" if self.stopped else ""
        return ", ".join(parts) + tail
