"""Where a gate runs a callable: on the event loop, or on which executor.

- an ``async def`` (or an object with an async ``__call__``) is awaited on the loop (`ASYNC`);
- a callable whose type names an executor factory in ``__sluice_executor__`` runs there
  (`sluice.cpu` functions: `PROCESS`);
- any other callable is assumed to block and runs on the gate's threads (`THREAD`).

    call_kind(fetch)                 # ASYNC (None): awaited on the loop
    call_kind(requests.get)          # THREAD: the thread executor's factory
"""

from __future__ import annotations

import inspect
from types import FunctionType, MethodType

from .processes import ProcessExecutor
from .protocol import ExecutorFactory
from .threads import ThreadExecutor

__all__ = ["ASYNC", "PROCESS", "THREAD", "Kind", "call_kind"]

Kind = ExecutorFactory | None
"""``None`` for a call awaited on the loop, else the factory of the executor it runs on."""

ASYNC: Kind = None
THREAD: ExecutorFactory = ThreadExecutor
PROCESS: ExecutorFactory = ProcessExecutor

_CO_COROUTINE = inspect.CO_COROUTINE


def call_kind(fn: object) -> Kind:
    """How a gate must run ``fn``: `ASYNC`, or the factory of its executor."""
    if type(fn) is FunctionType:
        return ASYNC if fn.__code__.co_flags & _CO_COROUTINE else THREAD
    if type(fn) is MethodType:
        # Bound methods (client.chat) are common and inspect's generic check is slow for them.
        func = fn.__func__
        if type(func) is FunctionType:
            return ASYNC if func.__code__.co_flags & _CO_COROUTINE else THREAD
    route: ExecutorFactory | None = getattr(type(fn), "__sluice_executor__", None)
    if route is not None:
        return route
    if inspect.iscoroutinefunction(fn):
        return ASYNC
    # An instance whose class (or a base) defines `async def __call__`.
    for klass in type(fn).__mro__:
        if "__call__" in klass.__dict__:
            return ASYNC if inspect.iscoroutinefunction(klass.__dict__["__call__"]) else THREAD
    return THREAD
