"""Where a gate runs a callable: on the event loop, or on which executor.

- an ``async def`` (or an object with an async ``__call__``) is awaited on the loop (`ASYNC`);
- a callable whose type names an executor factory in ``__sluice_executor__`` runs there
  (`sluice.cpu` functions: `PROCESS`);
- a callable that wraps an ``async def`` (a partial, a decorated method, see
  `sluice._executors.awaiting`) or was seen to return an awaitable is called on the loop and
  its result awaited (`AWAIT_RESULT`);
- any other callable is assumed to block and runs on the gate's threads (`THREAD`).

    call_kind(fetch)                              # ASYNC (None): awaited on the loop
    call_kind(AsyncOpenAI().chat.completions.create)    # AWAIT_RESULT
    call_kind(requests.get)                       # THREAD: the thread executor's factory
"""

from __future__ import annotations

import enum
import inspect
from types import FunctionType, MethodType
from typing import Final, TypeAlias

from .awaiting import awaits
from .processes import ProcessExecutor
from .protocol import ExecutorFactory
from .threads import ThreadExecutor

__all__ = ["ASYNC", "AWAIT_RESULT", "PROCESS", "THREAD", "Kind", "OnLoop", "call_kind"]


class OnLoop(enum.Enum):
    """Calls made on the loop whose result is awaited only if it is awaitable."""

    AWAIT_RESULT = "await result"


Kind: TypeAlias = ExecutorFactory | OnLoop | None
"""``None`` for a call awaited on the loop, `AWAIT_RESULT` for one called on the loop whose
result is awaited, else the factory of the executor it runs on."""

ASYNC: Kind = None
AWAIT_RESULT: Final = OnLoop.AWAIT_RESULT
THREAD: ExecutorFactory = ThreadExecutor
PROCESS: ExecutorFactory = ProcessExecutor

_CO_COROUTINE = inspect.CO_COROUTINE


def call_kind(fn: object) -> Kind:
    """How a gate must run ``fn``: `ASYNC`, or the factory of its executor."""
    if type(fn) is FunctionType:
        if fn.__code__.co_flags & _CO_COROUTINE:
            return ASYNC
        return AWAIT_RESULT if awaits(fn) else THREAD
    if type(fn) is MethodType:
        # Bound methods (client.chat) are common and inspect's generic check is slow for them.
        func = fn.__func__
        if type(func) is FunctionType:
            if func.__code__.co_flags & _CO_COROUTINE:
                return ASYNC
            return AWAIT_RESULT if awaits(fn) else THREAD
    route: ExecutorFactory | None = getattr(type(fn), "__sluice_executor__", None)
    if route is not None:
        return route
    if inspect.iscoroutinefunction(fn):
        return ASYNC
    # An instance whose class (or a base) defines `async def __call__`.
    for klass in type(fn).__mro__:
        if "__call__" in klass.__dict__:
            if inspect.iscoroutinefunction(klass.__dict__["__call__"]):
                return ASYNC
            break
    return AWAIT_RESULT if awaits(fn) else THREAD
