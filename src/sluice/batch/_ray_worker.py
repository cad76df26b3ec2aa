"""One shard of a job on Ray: what its actor is given, and the actor itself, which runs the
batch runner on the entries whose custom_id hashes to its shard, writing its own output part
and journal. Ray makes `ShardWorker` an async actor: every method runs on one event loop, so
``stop`` and ``progress`` are answered while ``run`` sends.

    worker = ray.remote(num_cpus=0.25)(ShardWorker).remote(spec)
    result, notices = await worker.run.remote()
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ._options import BatchOptions
from ._result import BatchResult, Progress
from ._runner import run_batch
from ._shard import ShardFilter

__all__ = ["ShardSpec", "ShardWorker"]


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """What one shard's actor needs to run its part (sent to it by value): ``settings`` are
    `run`'s arguments for this shard (its limits among them), less those that stay with the
    driver (progress, notices, the stop event)."""

    index: int
    count: int
    input: str
    part: str
    progress_every: float
    settings: dict[str, Any]


class ShardWorker:
    """One shard's runner; Ray makes it an async actor (all methods on one event loop)."""

    def __init__(self, spec: ShardSpec) -> None:
        self._spec = spec
        self._stop = asyncio.Event()
        self._progress: Progress | None = None
        self._notices: list[str] = []

    async def ready(self) -> int:
        return self._spec.index

    async def run(self) -> tuple[BatchResult, list[str]]:
        spec = self._spec
        options = BatchOptions.make(
            spec.input,
            spec.part,
            progress=self._keep_progress,
            progress_every=spec.progress_every,
            notice=self._notices.append,
            stop_event=self._stop,
            **spec.settings,
        )
        result = await run_batch(options, keep=ShardFilter(spec.index, spec.count))
        return result, self._notices

    async def stop(self) -> None:
        self._stop.set()

    async def progress(self) -> Progress | None:
        return self._progress

    def _keep_progress(self, progress: Progress) -> None:
        self._progress = progress
