"""Executors: where calls run when they do not run on the event loop.

- `kinds`: `call_kind` decides, once per call, between the loop and an executor;
- `awaiting`: callables not declared async that return awaitables, and the `Handoff` that
  brings one back from a thread to the loop;
- `protocol`: the `Executor` interface and the ``__sluice_executor__`` marker that routes a
  callable to any executor (how a new kind of worker plugs in without touching the kernel);
- `threads`: `ThreadExecutor`, a bounded pool for blocking functions;
- `processes`: `ProcessExecutor` and `sluice.cpu`, for CPU-bound functions;
- `router`: `Executors`, one gate's executors, created on first use;
- `pending`: the count of offloaded jobs that virtual time waits for;
- `portal`: the sync facade (`sluice.run_sync`), a background loop for code that is not async.
"""

from .awaiting import HANDED, Handoff, unlearn
from .kinds import ASYNC, AWAIT_RESULT, PROCESS, THREAD, Kind, OnLoop, call_kind
from .pending import pending_jobs
from .processes import CpuFunction, ProcessExecutor, cpu
from .protocol import Executor, ExecutorFactory, ExecutorSettings
from .router import Executors
from .threads import ThreadExecutor

__all__ = [
    "ASYNC",
    "AWAIT_RESULT",
    "HANDED",
    "PROCESS",
    "THREAD",
    "CpuFunction",
    "Executor",
    "ExecutorFactory",
    "ExecutorSettings",
    "Executors",
    "Handoff",
    "Kind",
    "OnLoop",
    "ProcessExecutor",
    "ThreadExecutor",
    "call_kind",
    "cpu",
    "pending_jobs",
    "unlearn",
]
