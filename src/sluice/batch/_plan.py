"""Before sending anything: check the input against itself and against the journal, and
work out what a run has left to do.

The input is read once here (each id's fingerprint, in memory: about 100 bytes an id) and
once more as the run goes (`pending`), so a million requests are never held as objects.

    plan = Plan.make(input_path, journal_state)      # raises ConfigError on a changed input
    for entry in plan.pending(retry_failed=False): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .. import ConfigError
from ._input import Malformed, Request, read_input
from ._journal import Failure, JournalState

__all__ = ["Carried", "Plan", "Skip", "check_input"]


@dataclass(frozen=True, slots=True)
class Skip:
    """An input entry a run does not send: already done, or a repeat of a line."""

    custom_id: str
    reason: str  # "done" | "repeat"


@dataclass(frozen=True, slots=True)
class Carried:
    """A failure journaled by an earlier run and not tried again."""

    custom_id: str
    failure: Failure


@dataclass(slots=True)
class Plan:
    """The input's ids and fingerprints, checked, with what the journal says of them."""

    input_path: Path
    fingerprints: dict[str, bytes]
    state: JournalState
    lines: int = 0
    plain: int = 0
    malformed: int = 0
    first_lines: dict[str, int] = field(default_factory=dict)

    @classmethod
    def make(cls, input_path: Path, state: JournalState, journal_path: Path) -> Plan:
        """Read the input once; refuse one custom_id with two bodies, in the input or
        between the input and the journal."""
        fingerprints: dict[str, bytes] = {}
        plan = cls(input_path, fingerprints, state)
        lines = plan.first_lines
        for entry in read_input(input_path):
            plan.lines += 1
            if isinstance(entry, Malformed):
                plan.malformed += 1
                continue
            plan.plain += entry.plain
            custom_id, digest = entry.custom_id, entry.fingerprint
            seen = fingerprints.setdefault(custom_id, digest)
            if seen != digest:
                raise ConfigError(
                    f"custom_id {custom_id!r} appears on lines {lines[custom_id]} and "
                    f"{entry.line} of {input_path} with different requests: give each request "
                    "its own custom_id"
                )
            lines.setdefault(custom_id, entry.line)
            journaled = state.fingerprints.get(custom_id)
            if journaled is not None and journaled != digest:
                raise ConfigError(
                    f"the input changed: custom_id {custom_id!r} (line {entry.line} of "
                    f"{input_path}) is not the request the journal {journal_path} recorded "
                    "for it. Start a new output (--output elsewhere), or delete the output "
                    "and its journal to start over, or give the changed requests new "
                    "custom_ids"
                )
        return plan

    def pending(
        self, *, retry_failed: bool, skipped: Callable[[Skip | Carried], None]
    ) -> Iterator[Request | Malformed]:
        """The entries to act on, read again from the input: requests to send and malformed
        lines to report. Those not sent are passed to ``skipped``."""
        done, failed = self.state.done, self.state.failed
        taken: set[str] = set()
        for entry in read_input(self.input_path):
            if isinstance(entry, Malformed):
                yield entry
                continue
            custom_id = entry.custom_id
            if custom_id in taken:
                skipped(Skip(custom_id, "repeat"))
                continue
            taken.add(custom_id)
            if custom_id in done:
                skipped(Skip(custom_id, "done"))
                continue
            failure = failed.get(custom_id)
            if failure is not None and not (retry_failed or failure.retryable):
                skipped(Carried(custom_id, failure))
                continue
            yield entry


def check_input(path: str | Path) -> Path:
    """The input path, refused with a clear message if it is not a readable file."""
    found = Path(path)
    if not found.is_file():
        raise ConfigError(f"the input {str(found)!r} is not a file: give a .jsonl file")
    return found
