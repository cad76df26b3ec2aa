"""The process executor: `sluice.cpu` functions run on a gate's process pool.

CPU-bound work (parsing, tokenizing, local embeddings) would hold the GIL and stall the event
loop and every thread; on a process pool it runs in parallel. The function travels to the
worker by reference, so it must be defined at module level; its arguments and result are
pickled. A worker that dies (killed, out of memory) breaks the pool: the next call starts a
fresh one.

    @sluice.cpu
    def embed_locally(texts: list[str]) -> list[list[float]]: ...
    vectors = await gate.run(embed_locally, texts)      # runs in a worker process
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import importlib
import inspect
import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable, Mapping
from types import FunctionType
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar

from .protocol import ExecutorFactory, ExecutorSettings

__all__ = ["CpuFunction", "ProcessExecutor", "cpu", "explain_pickling_error"]

P = ParamSpec("P")
R = TypeVar("R")


class ProcessExecutor:
    """A process pool of ``settings.processes`` workers (default: the CPU count)."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self._size = settings.processes or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._closed = False

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("this process pool was shut down")
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(
                    max_workers=self._size, mp_context=_default_mp_context()
                )
            return self._pool

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> cf.Future[Any]:
        pool = self._get_pool()
        try:
            job = pool.submit(_run_in_process, fn, args, kwargs)
        except cf.BrokenExecutor:
            self._discard_broken(pool)
            raise
        job.add_done_callback(functools.partial(self._check_broken, pool))
        return job

    def explain(self, error: BaseException) -> None:
        explain_pickling_error(error)

    def _check_broken(self, pool: cf.ProcessPoolExecutor, job: cf.Future[Any]) -> None:
        if not job.cancelled() and isinstance(job.exception(), cf.BrokenExecutor):
            self._discard_broken(pool)

    def _discard_broken(self, pool: cf.ProcessPoolExecutor) -> None:
        # A worker died: the pool refuses all further work, so the next call starts a new one.
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, *, wait: bool) -> None:
        with self._lock:
            self._closed = True
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


class CpuFunction(Generic[P, R]):
    """A function marked to run on a process pool. Calling it directly runs it in place."""

    __slots__ = ("__wrapped__", "_module", "_qualname")

    __sluice_executor__: ClassVar[ExecutorFactory] = ProcessExecutor

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


def explain_pickling_error(exc: BaseException) -> None:
    """Add a hint to an error raised while sending a call to (or from) a worker process."""
    if isinstance(exc, pickle.PicklingError) or (
        isinstance(exc, TypeError | AttributeError) and "pickle" in str(exc)
    ):
        exc.add_note(
            "sluice: the arguments and the result of a sluice.cpu function travel between "
            "processes and must be picklable"
        )


def _run_in_process(fn: Callable[..., Any], args: Any, kwargs: Mapping[str, Any]) -> Any:
    return fn(*args, **kwargs)


def _default_mp_context() -> multiprocessing.context.BaseContext:
    # fork is unsafe in a process that runs threads (the portal, the thread pool); forkserver
    # forks workers from a clean single-threaded server and starts much faster than spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
