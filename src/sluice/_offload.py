"""Where a call runs: on the loop, on a bounded thread pool, or on a process pool.

- an ``async def`` (or an object with an async ``__call__``) is awaited on the event loop;
- a plain function is assumed to block (an SDK call, ``requests``, file I/O) and runs on the
  gate's own bounded thread pool, so it can no longer freeze the loop;
- a function wrapped with `cpu` runs on a process pool, for CPU-bound work the GIL would
  serialize.

A thread cannot be interrupted: when its caller is cancelled or times out the caller leaves at
once, and the thread's result is discarded when it ends. The ``on_done`` callback (the gate
releases its concurrency permit there) runs only when the worker is really free, so the bound
on running work holds even for abandoned calls.

    @sluice.cpu
    def embed_locally(texts: list[str]) -> list[list[float]]: ...
    vectors = await gate.run(embed_locally, texts)      # runs in a worker process
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import functools
import importlib
import inspect
import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import Any, Generic, ParamSpec, TypeVar

__all__ = [
    "ASYNC",
    "PROCESS",
    "THREAD",
    "CpuFunction",
    "Executors",
    "call_kind",
    "cpu",
    "explain_pickling_error",
]

P = ParamSpec("P")
R = TypeVar("R")

ASYNC = 0
THREAD = 1
PROCESS = 2

_CO_COROUTINE = inspect.CO_COROUTINE

# Jobs handed to worker threads or processes and not finished yet, across all gates. The
# virtual-time loop of `sluice.testing` reads it: while real work is running elsewhere, it lets
# time flow at the real rate instead of jumping to the next timer.
_pending_lock = threading.Lock()
_pending = 0


def pending_jobs() -> int:
    """Offloaded calls (threads and processes, all gates) that have not finished yet."""
    return _pending


def _job_started() -> None:
    global _pending
    with _pending_lock:
        _pending += 1


def _job_finished() -> None:
    global _pending
    with _pending_lock:
        _pending -= 1


class CpuFunction(Generic[P, R]):
    """A function marked to run on a process pool. Calling it directly runs it in place."""

    __slots__ = ("__wrapped__", "_module", "_qualname")

    def __init__(self, fn: Callable[P, R]) -> None:
        self.__wrapped__ = fn
        self._module: str = getattr(fn, "__module__", "") or ""
        self._qualname: str = getattr(fn, "__qualname__", "") or ""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.__wrapped__(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        # Used as a decorator, the module attribute is this wrapper, not the function: pickle
        # the wrapper by name then, so the worker looks it up the same way.
        if _lookup(self._module, self._qualname) is self:
            return (_lookup, (self._module, self._qualname))
        return (CpuFunction, (self.__wrapped__,))

    def __repr__(self) -> str:
        return f"sluice.cpu({self._qualname or repr(self.__wrapped__)})"


def _lookup(module: str, qualname: str) -> object:
    try:
        target: object = sys.modules.get(module) or importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError):
        return None
    return target


def cpu(fn: Callable[P, R]) -> CpuFunction[P, R]:
    """Mark ``fn`` as CPU-bound: `Gate.run` will run it on the gate's process pool.

    ``fn`` must be picklable by reference (defined at module level), because it is sent to
    another process; its arguments and result must be picklable too.

        @sluice.cpu
        def tokenize(text: str) -> list[int]: ...
        ids = await gate.run(tokenize, text)
    """
    if isinstance(fn, CpuFunction):
        return fn
    if inspect.iscoroutinefunction(fn) or not callable(fn):
        raise TypeError(
            "sluice.cpu() needs a plain (non-async) function to run in a worker process, "
            f"got {fn!r}"
        )
    hint = (
        "Define the function at module level (lambdas and nested functions cannot be "
        "pickled), or pass a plain function to run it on a thread instead."
    )
    if isinstance(fn, FunctionType):
        # Functions travel by name. Used as a decorator, the name is not bound yet, so pickling
        # cannot be tried here; a name that can never be looked up is refused at once.
        if "<" in fn.__qualname__:
            raise TypeError(
                f"sluice.cpu() cannot send {fn.__qualname__} to a worker process. {hint}"
            )
    else:
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise TypeError(
                f"sluice.cpu() cannot send {fn!r} to a worker process: it is not picklable "
                f"({exc}). {hint}"
            ) from exc
    return CpuFunction(fn)


def call_kind(fn: object) -> int:
    """`ASYNC`, `THREAD` or `PROCESS`: how a gate must run ``fn``."""
    if type(fn) is FunctionType:
        return ASYNC if fn.__code__.co_flags & _CO_COROUTINE else THREAD
    if type(fn) is MethodType:
        # Bound methods (client.chat) are common and inspect's generic check is slow for them.
        func = fn.__func__
        if type(func) is FunctionType:
            return ASYNC if func.__code__.co_flags & _CO_COROUTINE else THREAD
    if isinstance(fn, CpuFunction):
        return PROCESS
    if inspect.iscoroutinefunction(fn):
        return ASYNC
    # An instance whose class (or a base) defines `async def __call__`.
    for klass in type(fn).__mro__:
        if "__call__" in klass.__dict__:
            return ASYNC if inspect.iscoroutinefunction(klass.__dict__["__call__"]) else THREAD
    return THREAD


def explain_pickling_error(exc: BaseException) -> None:
    """Add a hint to an error raised while sending a call to (or from) a worker process."""
    if isinstance(exc, pickle.PicklingError) or (
        isinstance(exc, TypeError | AttributeError) and "pickle" in str(exc)
    ):
        exc.add_note(
            "sluice: the arguments and the result of a sluice.cpu function travel between "
            "processes and must be picklable"
        )


def _run_in_thread(ctx: contextvars.Context, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    result = ctx.run(fn, *args, **kwargs)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError(
            f"{fn!r} returned an awaitable but is not declared `async def`, so sluice ran it on "
            "a thread. Pass the async function itself (with its arguments: "
            "gate.run(fn, *args)) instead of a lambda or wrapper around it."
        )
    return result


def _run_in_process(fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _default_mp_context() -> multiprocessing.context.BaseContext:
    # fork is unsafe in a process that runs threads (the portal, the thread pool); forkserver
    # forks workers from a clean single-threaded server and starts much faster than spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class Executors:
    """A gate's lazily created thread pool and process pool."""

    def __init__(self, *, name: str, threads: int, processes: int | None) -> None:
        self._name = name
        self._threads = threads
        self._processes = processes
        self._thread_pool: cf.ThreadPoolExecutor | None = None
        self._process_pool: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._live: set[cf.Future[Any]] = set()

    def _get_thread_pool(self) -> cf.ThreadPoolExecutor:
        pool = self._thread_pool
        if pool is None:
            with self._lock:
                if self._thread_pool is None:
                    self._thread_pool = cf.ThreadPoolExecutor(
                        max_workers=self._threads, thread_name_prefix=f"sluice-{self._name}"
                    )
                pool = self._thread_pool
        return pool

    def _get_process_pool(self) -> cf.ProcessPoolExecutor:
        pool = self._process_pool
        if pool is None:
            with self._lock:
                if self._process_pool is None:
                    self._process_pool = cf.ProcessPoolExecutor(
                        max_workers=self._processes or os.cpu_count() or 1,
                        mp_context=_default_mp_context(),
                    )
                pool = self._process_pool
        return pool

    def submit(
        self,
        kind: int,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_done: Callable[[], None] | None,
    ) -> asyncio.Future[Any]:
        """Start ``fn`` on a worker; return a loop future for its result.

        Cancelling the returned future cancels the job if it has not started; ``on_done`` is
        called on the loop once the worker is free either way.
        """
        loop = asyncio.get_running_loop()
        _job_started()
        try:
            if kind == THREAD:
                job = self._get_thread_pool().submit(
                    _run_in_thread, contextvars.copy_context(), fn, args, kwargs
                )
            else:
                job = self._submit_to_processes(fn, args, kwargs)
        except BaseException:
            _job_finished()
            raise
        with self._lock:
            self._live.add(job)
        # Order matters for virtual time: the result is posted to the loop (waking it) before
        # the job stops counting as pending, so the loop never sees "idle" in between.
        future = asyncio.wrap_future(job, loop=loop)
        job.add_done_callback(functools.partial(_finished, loop, on_done))
        job.add_done_callback(self._forget)
        return future

    def _forget(self, job: cf.Future[Any]) -> None:
        with self._lock:
            self._live.discard(job)

    def _submit_to_processes(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> cf.Future[Any]:
        pool = self._get_process_pool()
        try:
            job = pool.submit(_run_in_process, fn, args, kwargs)
        except cf.BrokenExecutor:
            self._discard_broken(pool)
            raise
        job.add_done_callback(functools.partial(self._check_broken, pool))
        return job

    def _check_broken(self, pool: cf.ProcessPoolExecutor, job: cf.Future[Any]) -> None:
        if not job.cancelled() and isinstance(job.exception(), cf.BrokenExecutor):
            self._discard_broken(pool)

    def _discard_broken(self, pool: cf.ProcessPoolExecutor) -> None:
        # A worker died (killed, out of memory): the pool refuses all further work, so the
        # next call starts a fresh one.
        with self._lock:
            if self._process_pool is pool:
                self._process_pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the pools: queued jobs are cancelled, running ones finish (``wait`` for them)."""
        for pool in self._take_pools():
            pool.shutdown(wait=wait, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop the pools without blocking the loop: queued jobs are cancelled, running ones
        are awaited, then the idle workers are joined. Bound it with `asyncio.timeout`."""
        pools = self._take_pools()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            live = list(self._live)
        if live:
            await asyncio.wait([asyncio.wrap_future(job) for job in live])
        for pool in pools:
            # Every job has ended, so the workers are only exiting: joining them is brief.
            pool.shutdown(wait=True)

    def _take_pools(self) -> list[cf.Executor]:
        with self._lock:
            pools: list[cf.Executor] = [p for p in (self._thread_pool, self._process_pool) if p]
            self._thread_pool = self._process_pool = None
        return pools


def _finished(
    loop: asyncio.AbstractEventLoop, on_done: Callable[[], None] | None, _job: cf.Future[Any]
) -> None:
    try:
        if on_done is not None:
            loop.call_soon_threadsafe(on_done)
    except RuntimeError:  # the loop is closed: nobody is left to hand the permit to
        pass
    finally:
        _job_finished()
