"""The same batch spread over a Ray cluster: one async actor per shard, each running the
batch runner on the requests whose custom_id hashes to it, with its own output part and
journal; the parts merged into the output at the end.

The actors ask Ray for a fraction of a CPU (``num_cpus=0.25`` by default): they wait on the
network, and actors holding whole CPUs can starve everything else on a small machine. They
are not restarted by Ray (a restart would re-send what was in flight without the driver
knowing); a run that loses one says so and the next run resumes it from its journal. The
driver's waits are bounded (actors placed within ``start_timeout``, a stop honoured within
``stop_timeout``), and every actor it made is killed when it returns, fails or is cancelled;
Ray is shut down only if this call started it.

    result = await run_ray("in.jsonl", "out.jsonl", base_url=url, workers=4,
                           shared="redis://localhost:6379/0")
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ConfigError
from ._merge import combine, combine_progress, merge_files
from ._options import BatchOptions
from ._plan import check_input
from ._ray_worker import ShardSpec, ShardWorker
from ._result import BatchResult, Progress
from ._shard import ShardLayout, ShardLimits

__all__ = ["DEFAULT_NUM_CPUS", "DEFAULT_WORKERS", "RunRay", "import_ray", "make_job", "run_ray"]

DEFAULT_WORKERS = 2
DEFAULT_NUM_CPUS = 0.25
_TICK = 0.25  # seconds between looks at the stop event and the shards' runs
_POLL_TIMEOUT = 10.0  # seconds a progress poll may take before it is skipped


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ConfigError(
            "running on Ray needs the ray package: pip install 'aiosluice[ray]'"
        ) from None


@dataclass(slots=True)
class RunRay:
    """One run of a job on Ray, from checked options to the merged result."""

    options: BatchOptions
    layout: ShardLayout
    limits: ShardLimits
    address: str | None
    num_cpus: float
    settings: dict[str, Any]  # run's arguments for every shard, the limits aside
    start_timeout: float
    stop_timeout: float

    async def go(self) -> BatchResult:
        self.layout.claim()
        divided = self.limits.describe(self.layout.count)
        if divided is not None:
            self.options.notice(divided)
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address)
        elif self.address is not None:
            self.options.notice(f"Ray is already initialized here: address {self.address} unused")
        try:
            return await self._run(ray)
        finally:
            if started_here:
                ray.shutdown()

    def _spec(self, index: int) -> ShardSpec:
        limits = self.limits
        settings = dict(
            self.settings,
            rpm=limits.rpm,
            tpm=limits.tpm,
            concurrency=limits.concurrency or "auto",
            max_cost=limits.max_cost,
        )
        return ShardSpec(
            index=index,
            count=self.layout.count,
            input=str(self.options.input.resolve()),
            part=str(self.layout.part(index).resolve()),
            progress_every=self.options.progress_every,
            settings=settings,
        )

    async def _run(self, ray: Any) -> BatchResult:
        started = time.monotonic()
        remote = ray.remote(num_cpus=self.num_cpus, max_restarts=0, max_task_retries=0)
        actor_class = remote(ShardWorker)
        actors = [actor_class.remote(self._spec(index)) for index in range(self.layout.count)]
        try:
            try:
                placed = asyncio.gather(*(_future(actor.ready.remote()) for actor in actors))
                try:
                    async with asyncio.timeout(self.start_timeout):
                        await placed
                except TimeoutError:
                    raise TimeoutError(
                        f"Ray did not start the {len(actors)} workers (num_cpus="
                        f"{self.num_cpus:g} each) within {self.start_timeout:g} s: is the "
                        "cluster short of CPUs?"
                    ) from None
                results = await _Shards(self, actors, started).wait()
            finally:
                for actor in actors:  # no orphans, whatever happened (a kill loses only
                    ray.kill(actor, no_restart=True)  # what was in flight)
        except Exception:
            with contextlib.suppress(OSError):  # what the shards answered reaches the output
                await self._merge()
            raise
        await self._merge()
        return combine(results, self.layout, time.monotonic() - started)

    async def _merge(self) -> None:
        await asyncio.to_thread(merge_files, self.layout.parts, self.layout.output)
        await asyncio.to_thread(merge_files, self.layout.failed_parts, self.layout.failed)


class _Shards:
    """The driver's watch over the shards' runs: stops, progress, errors."""

    def __init__(self, job: RunRay, actors: list[Any], started: float) -> None:
        self.job, self.actors, self.started = job, actors, started
        self.stopping_since: float | None = None
        self.error: BaseException | None = None

    async def wait(self) -> list[BatchResult]:
        options = self.job.options
        runs = {_future(actor.run.remote()): index for index, actor in enumerate(self.actors)}
        results: dict[int, BatchResult] = {}
        next_report = time.monotonic() + options.progress_every
        pending = set(runs)
        while pending:
            finished, pending = await asyncio.wait(pending, timeout=_TICK)
            for future in finished:
                self._collect(runs[future], future, results)
            event = options.stop_event
            if event is not None and event.is_set():
                self._stop_soon()
            now = time.monotonic()
            if (
                self.stopping_since is not None
                and now - self.stopping_since > self.job.stop_timeout
            ):
                raise TimeoutError(
                    f"the workers did not stop within {self.job.stop_timeout:g} s; they are "
                    "killed (requests in flight will be sent again on resume)"
                )
            if options.progress is not None and now >= next_report and pending:
                next_report = now + options.progress_every
                await self._report(options.progress)
        if self.error is not None:
            raise self.error
        if options.progress is not None:
            await self._report(options.progress)
        return [results[index] for index in sorted(results)]

    def _collect(
        self, index: int, future: asyncio.Future[Any], results: dict[int, BatchResult]
    ) -> None:
        try:
            result, notices = future.result()
        except Exception as exc:  # the others stop; the first error is raised at the end
            if self.error is None:
                self.error = _unwrap(exc, index)
            self._stop_soon()
            return
        results[index] = result
        for message in notices:
            self.job.options.notice(f"worker {index}: {message}")
        if result.stopped is not None and result.stopped != "interrupted":
            self._stop_soon()  # --max-failures in one shard stops the job

    def _stop_soon(self) -> None:
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
            for actor in self.actors:
                actor.stop.remote()

    async def _report(self, progress: Callable[[Progress], None]) -> None:
        polls = [_future(actor.progress.remote()) for actor in self.actors]
        try:
            found = await asyncio.wait_for(
                asyncio.gather(*polls, return_exceptions=True), _POLL_TIMEOUT
            )
        except TimeoutError:
            return
        latest = [item for item in found if isinstance(item, Progress)]
        if latest:  # none before the shards' first report
            progress(combine_progress(latest, time.monotonic() - self.started))


def _future(ref: Any) -> asyncio.Future[Any]:
    """An ObjectRef as an asyncio future of this loop (its error read even when nobody waits
    for it any more: the actor killed on the way out)."""
    future = asyncio.wrap_future(ref.future())
    future.add_done_callback(_read_error)
    return future


def _read_error(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _unwrap(exc: BaseException, index: int) -> BaseException:
    """A shard's ConfigError as itself (a changed input, ...); anything else named."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ConfigError):
        return cause
    if isinstance(exc, ConfigError):
        return exc
    return RuntimeError(
        f"worker {index} failed ({type(exc).__name__}: {exc}); its journal is consistent: "
        "run again to resume"
    )


def make_job(
    input: str | Path,
    output: str | Path,
    *,
    workers: int,
    address: str | None,
    num_cpus: float,
    start_timeout: float,
    stop_timeout: float,
    progress: Callable[[Progress], None] | None,
    **settings: Any,
) -> RunRay:
    """Check everything a Ray run needs (before Ray is imported)."""
    _refuse_what_shards_cannot_do(settings)
    options = BatchOptions.make(input, output, progress=progress, **settings)
    check_input(options.input)
    for name, value in (
        ("num_cpus", num_cpus),
        ("start_timeout", start_timeout),
        ("stop_timeout", stop_timeout),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{name} must be a number > 0, got {value!r}")
    layout = ShardLayout.of(options.output, workers, failed=options.failed_path)
    limits = ShardLimits.of(
        workers,
        rpm=options.rpm,
        tpm=options.tpm,
        concurrency=options.concurrency,
        shared=options.shared,
        max_cost=options.max_cost,
    )
    driver_only = ("progress_every", "notice", "stop_event")
    for name in ("cache", "prices"):  # files the workers open, wherever their cwd is
        if isinstance(settings.get(name), str | Path):
            settings[name] = str(Path(settings[name]).resolve())
    return RunRay(
        options=options,
        layout=layout,
        limits=limits,
        address=address,
        num_cpus=float(num_cpus),
        settings={name: value for name, value in settings.items() if name not in driver_only},
        start_timeout=float(start_timeout),
        stop_timeout=float(stop_timeout),
    )


def _refuse_what_shards_cannot_do(settings: dict[str, Any]) -> None:
    if settings.get("client") is not None:
        raise ConfigError(
            "run_ray(...) builds a client in each worker: give base_url= and the limits, "
            "not client="
        )
    if settings.get("dry_run"):
        raise ConfigError("a dry run sends nothing and needs no Ray: run it without --ray")
    if settings.get("ordered"):
        raise ConfigError(
            "ordered output is not kept across shards: run without --ray, or join the "
            "output on custom_id"
        )
    cache = settings.get("cache")
    if cache is not None and not isinstance(cache, str | Path):
        raise ConfigError(
            f"run_ray(cache=...) takes a file path each worker opens, got {type(cache).__name__}"
        )


async def run_ray(
    input: str | Path,
    output: str | Path,
    *,
    base_url: str,
    workers: int = DEFAULT_WORKERS,
    address: str | None = None,
    num_cpus: float = DEFAULT_NUM_CPUS,
    shared: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    start_timeout: float = 120.0,
    stop_timeout: float = 330.0,
    **settings: Any,
) -> BatchResult:
    """`run`, spread over a Ray cluster: ``workers`` async actors, each sending the requests
    whose custom_id hashes to it (the same ones on every run), with its own journal and
    output part in ``OUTPUT.shards/``; the parts are merged into ``output`` (one line per
    custom_id) and the failed file at the end of each run. Running it again resumes every
    shard from its journal, whatever stopped the last run (a killed driver included).

    Args:
        workers: the shards (actors); a resumed job must keep its count.
        address: the cluster to join (``"auto"``, ``"ray://head:10001"``); default: the
            one Ray is already initialized with here, else ``ray.init()``'s choice (a
            ``RAY_ADDRESS`` cluster, or a new local one, shut down at the end).
        num_cpus: the CPU share each actor asks Ray for (they wait on the network).
        shared: a Redis URL the workers share the limits through; with ``workers > 1``
            give it, or pin ``rpm``/``tpm``, which are then divided among the workers.
        start_timeout, stop_timeout: seconds for every actor to be placed, and for the
            actors to finish what is in flight once stopped (else they are killed).
        settings: the other arguments of `run` (``api_key``, ``rpm``, ``tpm``,
            ``concurrency``, ``window``, ``retry_failed``, ``max_failures``, ``dedup``,
            ``progress_every``, ``notice``, ``stop_event``), per worker except the limits.

        result = await sluice.batch.run_ray("in.jsonl", "out.jsonl", base_url=url,
                                            workers=4, shared="redis://localhost:6379/0")
        print(result.summary())
    """
    job = make_job(
        input,
        output,
        workers=workers,
        address=address,
        num_cpus=num_cpus,
        start_timeout=start_timeout,
        stop_timeout=stop_timeout,
        progress=progress,
        base_url=base_url,
        shared=shared,
        **settings,
    )
    return await job.go()
