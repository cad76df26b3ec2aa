"""Before sending anything: check the input against itself and against the journal, and
work out what a run has left to do.

The input is read once here. A line whose exact bytes a journaled answer came from is
skipped without being parsed (a hash and a set lookup: this is what keeps a resume over a
million done ids quick); any other line is parsed, fingerprinted and checked. What is left
to do is kept as byte offsets into the input (16 bytes a request) and read again as the run
goes (`pending`), so a million requests are never held as objects.

    plan = Plan.make(input_path, journal_state, journal_path, retry_failed=False)
    for entry in plan.pending(): ...       # raises ConfigError above on a changed input
"""

from __future__ import annotations

import array
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

from .. import ConfigError
from ._input import Malformed, Request, line_digest, parse_line
from ._journal import Failure, JournalState

__all__ = ["Carried", "Plan", "check_input"]


@dataclass(frozen=True, slots=True)
class Carried:
    """A failure journaled by an earlier run and not tried again."""

    custom_id: str
    failure: Failure


@dataclass(slots=True)
class Plan:
    """The input checked, with what is left to do and what is not (and the models the
    requests left to send name)."""

    input_path: Path
    fingerprints: dict[str, bytes] = field(default_factory=dict)
    todo: array.array[int] = field(default_factory=lambda: array.array("Q"))
    todo_lines: array.array[int] = field(default_factory=lambda: array.array("Q"))
    carried: list[Carried] = field(default_factory=list)
    models: set[str] = field(default_factory=set)
    lines: int = 0
    plain: int = 0
    malformed: int = 0
    skipped_done: int = 0
    repeats: int = 0

    @classmethod
    def make(
        cls,
        input_path: Path,
        state: JournalState,
        journal_path: Path,
        *,
        retry_failed: bool,
        keep: Callable[[Request | Malformed], bool] | None = None,
    ) -> Plan:
        """Read the input once; refuse one custom_id with two bodies, in the input or
        between the input and the journal. With ``keep``, only the entries it keeps are
        this plan's (one shard of a job split by custom_id)."""
        plan = cls(input_path)
        fingerprints, first_lines = plan.fingerprints, dict[str, int]()
        done, done_lines, failed = state.done, state.done_lines, state.failed
        with open(input_path, "rb") as lines:
            offset = 0
            for number, raw in enumerate(lines, start=1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                if line_digest(raw) in done_lines:
                    plan.lines += 1
                    plan.skipped_done += 1
                    continue
                entry = parse_line(raw, number)
                if keep is not None and not keep(entry):
                    continue
                plan.lines += 1
                if isinstance(entry, Malformed):
                    plan.malformed += 1
                    plan._add(start, number)
                    continue
                plan.plain += entry.plain
                custom_id, digest = entry.custom_id, entry.fingerprint
                seen = fingerprints.setdefault(custom_id, digest)
                if seen != digest:
                    raise ConfigError(
                        f"custom_id {custom_id!r} appears on lines {first_lines[custom_id]} "
                        f"and {number} of {input_path} with different requests: give each "
                        "request its own custom_id"
                    )
                journaled = state.fingerprints.get(custom_id)
                if journaled is not None and journaled != digest:
                    raise ConfigError(
                        f"the input changed: custom_id {custom_id!r} (line {number} of "
                        f"{input_path}) is not the request the journal {journal_path} "
                        "recorded for it. Start a new output (--output elsewhere), or delete "
                        "the output and its journal to start over, or give the changed "
                        "requests new custom_ids"
                    )
                if custom_id in first_lines:
                    plan.repeats += 1
                    continue
                first_lines[custom_id] = number
                if custom_id in done:
                    plan.skipped_done += 1
                    continue
                failure = failed.get(custom_id)
                if failure is not None and not (retry_failed or failure.retryable):
                    plan.carried.append(Carried(custom_id, failure))
                    continue
                model = entry.body.get("model")
                if isinstance(model, str):
                    plan.models.add(model)  # to check that each has a price
                plan._add(start, number)
        return plan

    def _add(self, start: int, number: int) -> None:
        self.todo.append(start)
        self.todo_lines.append(number)

    def pending(self) -> Generator[Request | Malformed, None, None]:
        """The entries to act on, read again from the input at their offsets: requests to
        send and malformed lines to report."""
        with open(self.input_path, "rb") as lines:
            for start, number in zip(self.todo, self.todo_lines, strict=True):
                lines.seek(start)
                yield parse_line(lines.readline(), number)


def check_input(path: str | Path) -> Path:
    """The input path, refused with a clear message if it is not a readable file."""
    found = Path(path)
    if not found.is_file():
        raise ConfigError(f"the input {str(found)!r} is not a file: give a .jsonl file")
    return found
