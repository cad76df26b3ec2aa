"""Callables that are not declared ``async def`` but return an awaitable.

SDK methods wrapped by a decorator (``AsyncOpenAI().chat.completions.create``), a
`functools.partial` or a lambda around an async function: each returns a coroutine, which must
be awaited on the event loop, never run on a thread.

- Statically, `awaits` looks through partials, bound methods and ``__wrapped__`` chains for
  an ``async def``; such callables are called on the loop and their result awaited.
- Anything else that is not async is assumed to block and goes to a thread. If it returns an
  awaitable there (a lambda: nothing tells before calling it), the `Handoff` carries it back
  to the loop, which awaits it while the call still holds what it was admitted with (its
  concurrency permit); the callable is remembered (`learn`) so its next calls go straight to
  the loop.

    handoff = Handoff(lambda: fetch(url), (), {}, release=free_permit)
    result = await executors.run(THREAD, handoff.run, (), {}, handoff.worker_free)
    if result is HANDED: result = await handoff.awaited()
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import MethodType
from typing import Any

__all__ = ["HANDED", "Handoff", "awaits", "learn", "unlearn"]

logger = logging.getLogger("sluice")

HANDED: Any = object()
"""What `Handoff.run` returns in the thread when the callable gave an awaitable instead."""

_UNWRAP_DEPTH = 8
# Callables seen to return awaitables, and callables that look async but ran synchronously.
_RETURNS_AWAITABLE: weakref.WeakSet[Any] = weakref.WeakSet()
_RUNS_SYNC: weakref.WeakSet[Any] = weakref.WeakSet()


def _identity(fn: object) -> object:
    """What to remember a callable by: a bound method's function, a partial's callable, a
    function itself, else the class of a callable object."""
    for _ in range(_UNWRAP_DEPTH):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif type(fn) is MethodType:
            fn = fn.__func__
        else:
            break
    return fn if inspect.isfunction(fn) else type(fn)


def _remembered(store: weakref.WeakSet[Any], fn: object) -> bool:
    try:
        return _identity(fn) in store
    except TypeError:  # cannot be weakly referenced, so never stored
        return False


def awaits(fn: object) -> bool:
    """Whether calling ``fn`` gives an awaitable: it wraps an ``async def`` (through
    partials, bound methods, ``__wrapped__``), or was seen to return one."""
    if _remembered(_RETURNS_AWAITABLE, fn):
        return True
    if _remembered(_RUNS_SYNC, fn):
        return False
    for _ in range(_UNWRAP_DEPTH):
        if isinstance(fn, functools.partial):
            fn = fn.func
            continue
        if type(fn) is MethodType:
            fn = fn.__func__
            continue
        if inspect.iscoroutinefunction(fn):
            return True
        try:
            wrapped = getattr(fn, "__wrapped__", None)
        except Exception:  # a proxy object that refuses the lookup
            return False
        if wrapped is None:
            return False
        fn = wrapped
    return False


def _remember(store: weakref.WeakSet[Any], fn: object) -> None:
    with contextlib.suppress(TypeError):  # cannot be weakly referenced: not remembered
        store.add(_identity(fn))


def learn(fn: object) -> None:
    """``fn`` returned an awaitable: call it on the loop from now on."""
    _remember(_RETURNS_AWAITABLE, fn)


def unlearn(fn: object) -> None:
    """``fn`` looked async but returned a plain value, having run on the loop: send it to a
    thread from now on, and say so once."""
    identity = _identity(fn)
    try:
        _RETURNS_AWAITABLE.discard(identity)
    except TypeError:
        return
    if not _remembered(_RUNS_SYNC, fn):
        logger.warning(
            "%r wraps an async function but returned a plain value, so it ran on the event "
            "loop and blocked it; its later calls will run on threads",
            fn,
        )
    _remember(_RUNS_SYNC, fn)


class Handoff:
    """One call sent to a thread, and the awaitable it may hand back to the loop.

    ``release`` gives back what the call holds; it runs exactly once: when the worker is free
    and no awaitable came back, else once the awaitable is over (or dropped, if the caller
    left first).
    """

    __slots__ = ("_abandoned", "_args", "_awaitable", "_fn", "_freed", "_kwargs", "_release")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        release: Callable[[], None],
    ) -> None:
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._release = release
        self._awaitable: Awaitable[Any] | None = None
        self._abandoned = False
        self._freed = False

    def run(self) -> Any:
        """In the worker thread: the call's result, or `HANDED` if it is an awaitable."""
        result = self._fn(*self._args, **self._kwargs)
        if inspect.isawaitable(result):
            self._awaitable = result
            learn(self._fn)
            return HANDED
        return result

    def worker_free(self) -> None:
        """On the loop, once the thread is done with the call."""
        self._freed = True
        if self._awaitable is not None and not self._abandoned:
            return  # the caller awaits it, and releases after
        self._drop()
        self._release()

    def abandon(self) -> None:
        """On the loop: the caller stopped waiting before it took the awaitable."""
        self._abandoned = True
        if self._freed and self._awaitable is not None:
            self._drop()
            self._release()

    async def awaited(self) -> Any:
        """Await the awaitable the thread handed back, then release."""
        awaitable = self._awaitable
        assert awaitable is not None  # only after `run` returned HANDED
        try:
            return await awaitable
        finally:
            self._awaitable = None
            if self._freed:
                self._release()
            else:
                # The worker's notice is still on its way: let it release.
                self._abandoned = True

    def _drop(self) -> None:
        awaitable, self._awaitable = self._awaitable, None
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never awaited, and never will be: no warning for it
