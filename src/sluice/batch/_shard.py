"""A batch split into shards: which shard a request belongs to, where each shard keeps its
state, and the limits each shard is given.

A request goes to the shard a stable hash of its ``custom_id`` names (blake2b, not Python's
salted ``hash``), so every run of the same job, in any process on any machine, gives each id
to the same shard, and the shard's journal finds it again on resume. A malformed line
without a custom_id goes to shard 0. Each shard writes its own output part, failed part and
journal in ``OUTPUT.shards/``; ``job.json`` there records the shard count, which a resume
must not change.

    layout = ShardLayout.of("answers.jsonl", shards=4)
    layout.claim()                          # refuses another shard count, a single-run output
    keep = ShardFilter(index=1, count=4)    # the entries shard 1 runs
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .. import ConfigError
from ._input import Malformed, Request

__all__ = ["ShardFilter", "ShardLayout", "ShardLimits", "shard_of"]

_JOB_FILE = "job.json"


def shard_of(custom_id: str, count: int) -> int:
    """The shard (``0 .. count-1``) of ``custom_id``: the same on every run and machine.

    shard_of("q1", 4)    # 0, on every run and machine
    """
    digest = hashlib.blake2b(custom_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True, slots=True)
class ShardFilter:
    """Whether an input entry belongs to shard ``index`` of ``count``.

    keep = ShardFilter(0, 4)
    keep(entry)      # True for the entries shard 0 sends or reports
    """

    index: int
    count: int

    def __call__(self, entry: Request | Malformed) -> bool:
        if entry.custom_id is None:  # a malformed line without an id: reported once, by 0
            return self.index == 0
        return shard_of(entry.custom_id, self.count) == self.index


@dataclass(frozen=True, slots=True)
class ShardLayout:
    """Where the shards of the job writing ``output`` keep their parts and journals."""

    output: Path
    failed: Path
    directory: Path
    count: int

    @classmethod
    def of(cls, output: str | Path, shards: int, failed: Path | None = None) -> ShardLayout:
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise ConfigError(f"workers must be an int >= 1, got {shards!r}")
        out = Path(output)
        failed = failed or out.with_name(out.stem + ".failed" + (out.suffix or ".jsonl"))
        return cls(out, failed, out.with_name(out.name + ".shards"), shards)

    def part(self, index: int) -> Path:
        """Shard ``index``'s output part (its journal and failed part are named after it)."""
        return self.directory / f"part-{index:03d}.jsonl"

    def failed_part(self, index: int) -> Path:
        part = self.part(index)
        return part.with_name(part.stem + ".failed.jsonl")

    @property
    def parts(self) -> list[Path]:
        return [self.part(index) for index in range(self.count)]

    @property
    def failed_parts(self) -> list[Path]:
        return [self.failed_part(index) for index in range(self.count)]

    def claim(self) -> None:
        """Check the output is this job's (or new) and record the shard count.

        Raises ConfigError when the output was started with another shard count (its ids
        would move to shards whose journals do not know them), by a single runner (its
        journal beside it), or holds answers without the shards' state."""
        single = self.output.with_name(self.output.name + ".journal.sqlite")
        if single.exists():
            raise ConfigError(
                f"{self.output} was started by a single runner (its journal {single} is "
                "beside it): resume it without Ray, or give another output"
            )
        job = self.directory / _JOB_FILE
        if job.exists():
            recorded = _recorded_count(job)
            if recorded != self.count:
                raise ConfigError(
                    f"{self.output} was started with workers={recorded}: resume it with "
                    f"workers={recorded} (a request's shard depends on the count), or give "
                    "another output"
                )
            return
        if self.output.exists() and self.output.stat().st_size > 0:
            raise ConfigError(
                f"{self.output} holds answers but no shard state ({self.directory} is "
                "missing): give another output, or resume it without Ray"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = job.with_suffix(".tmp")
        temporary.write_text(json.dumps({"workers": self.count}) + "\n")
        temporary.replace(job)


def _recorded_count(job: Path) -> int:
    try:
        count = json.loads(job.read_text())["workers"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{job} is not a shard record ({exc}): restore it") from None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"{job} records workers={count!r}: restore it")
    return count


@dataclass(frozen=True, slots=True)
class ShardLimits:
    """The limits one shard's runner is given.

    Through a shared Redis every shard's gate is the same gate, so each is given the job's
    rates and concurrency whole; without it each shard is on its own, so the pinned rates and
    a fixed concurrency are divided among the shards (``divided`` says so). The spending is
    not shared through Redis: a ``max_cost`` is always divided."""

    rpm: float | None
    tpm: float | None
    concurrency: int | None
    max_cost: float | None
    divided: bool

    @classmethod
    def of(
        cls,
        shards: int,
        *,
        rpm: float | None,
        tpm: float | None,
        concurrency: int | None,
        shared: str | None,
        max_cost: float | None = None,
    ) -> ShardLimits:
        cost = None if max_cost is None else max_cost / shards
        if shared is not None or shards == 1:
            return cls(rpm, tpm, concurrency, cost, divided=False)
        if rpm is None and tpm is None:
            raise ConfigError(
                f"{shards} workers without shared='redis://...' would each learn the limits "
                "on their own and together exceed them: give shared= a Redis URL (--shared) "
                "so they share one limit, or pin rpm/tpm (divided among the workers)"
            )
        return cls(
            rpm / shards if rpm is not None else None,
            tpm / shards if tpm is not None else None,
            math.ceil(concurrency / shards) if concurrency is not None else None,
            cost,
            divided=True,
        )

    def describe(self, shards: int) -> str | None:
        """The notice given when limits are divided (None when none is)."""
        parts = []
        if self.divided:
            parts += [
                f"{name}={value:g}"
                for name, value in (("rpm", self.rpm), ("tpm", self.tpm))
                if value is not None
            ]
            if self.concurrency is not None:
                parts.append(f"concurrency={self.concurrency}")
        if self.max_cost is not None and shards > 1:
            parts.append(f"max_cost=${self.max_cost:.4g}")
        if not parts:
            return None
        why = "no shared Redis" if self.divided else "spending is not shared"
        return (
            f"{why}: each of the {shards} workers is given 1/{shards} of the limits "
            f"({', '.join(parts)})"
        )
