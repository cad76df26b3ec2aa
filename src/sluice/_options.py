"""Per-call settings: one gate, several time limits, and no clash with the function's own
keyword arguments.

`Gate.run` passes every keyword it does not know to the function (``gate.run(requests.get,
url, timeout=5)`` gives ``timeout=5`` to requests). Settings for the call itself therefore go
through `Gate.options`, which returns a `CallOptions`: the same gate (its limits, breaker and
statistics are shared), with this call's ``timeout`` in place of the gate's, and its token
estimate and fallback.

    fast = gate.options(timeout=Timeout(attempt=2.0, total=5.0))
    page = await fast.run(requests.get, url, timeout=1.5)     # requests' own timeout, untouched
    outcome = await gate.options(timeout=0.5, fallback=None).run_outcome(lookup, key)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from ._core.call import Call
from ._core.kernel import Kernel
from ._executors.portal import portal
from ._outcome import Err, Ok
from .policies.timeout import Timeout

__all__ = ["CallOptions", "Tokens"]

T = TypeVar("T")

Tokens = float | Callable[[], float] | None
"""A call's token estimate: a number, or a function that computes one (called only by a gate
that meters tokens, so an estimate nobody needs costs nothing)."""


class CallOptions:
    """A gate with settings for the calls made through it (see `Gate.options`)."""

    __slots__ = ("_fallback", "_kernel", "_timeout", "_tokens")

    def __init__(
        self, kernel: Kernel, *, timeout: Timeout | None, tokens: Tokens, fallback: Any
    ) -> None:
        self._kernel = kernel
        self._timeout = timeout
        self._tokens = tokens
        self._fallback = fallback

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> Call:
        call = Call(fn, args, kwargs, self._tokens)
        call.timeout = self._timeout
        return call

    @overload
    async def run(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T: ...

    @overload
    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`Gate.run` with these settings; every keyword goes to ``fn``."""
        return await self._kernel.run(self._call(fn, args, kwargs), self._fallback)

    @overload
    async def run_outcome(
        self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
    ) -> Ok[T] | Err: ...

    @overload
    async def run_outcome(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> Ok[T] | Err: ...

    async def run_outcome(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Ok[Any] | Err:
        """`Gate.run_outcome` with these settings; every keyword goes to ``fn``."""
        return await self._kernel.run_outcome(self._call(fn, args, kwargs), self._fallback)

    def run_sync(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`run` from synchronous code: executes on sluice's background event loop."""
        return portal.call(self.run, fn, *args, **kwargs)

    def __repr__(self) -> str:
        return f"CallOptions(gate={self._kernel.name!r}, timeout={self._timeout!r})"
