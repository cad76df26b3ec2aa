"""`Limit`: at most so many requests of a route at once, a bounded line, and 503 beyond it.

A service on a few cores that takes every request it is sent answers all of them slowly:
past its capacity each extra user only adds to everyone's latency. `Limit` runs the requests
under its paths through a gate with a concurrency limit: ``limit`` at once, ``max_queue``
waiting (in arrival order, each for at most ``max_wait`` seconds), and the rest answered 503
with ``Retry-After`` at once. The gate is an ordinary `sluice.Gate` named ``name``: its
statistics, and its metrics through `sluice.observe.register_metrics`, show the route's load.

    app = Limit(app, limit=64, max_queue=256, max_wait=2.0, routes=["/ask"])
    # the 321st concurrent POST /ask: 503, Retry-After: 1
    app.gate.statistics().in_flight
"""

from __future__ import annotations

from collections.abc import Iterable

from .._errors import ConfigError, OverloadedError
from .._gate import Gate
from .._validate import check_int_at_least, check_optional_positive, check_positive
from ..policies.limit import Concurrency
from ._types import ASGIApp, Receive, Scope, Send, overloaded, under, whole_seconds

__all__ = ["Limit"]


class Limit:
    """ASGI middleware: a concurrency limit with a bounded line for the requests under
    ``routes`` (path prefixes, whole segments: ``"/ask"`` covers ``/ask`` and ``/ask/...``;
    ``None``: every HTTP request). Other requests and scopes pass through untouched.

    A request past the line gets 503, ``Retry-After: retry_after`` (whole seconds, at least
    1) and a JSON body ``{"error": "overloaded", "gate": name, "reason": ...}`` whose reason
    is ``queue_full`` or ``max_wait``. Raises `ConfigError` naming a parameter it cannot use.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        max_queue: int = 0,
        max_wait: float | None = None,
        routes: Iterable[str] | None = None,
        retry_after: float = 1.0,
        name: str = "asgi-limit",
    ) -> None:
        owner = "Limit"
        if not callable(app):
            raise ConfigError(f"{owner}(app=...) must be an ASGI application, got {app!r}")
        self.app = app
        check_int_at_least(owner, "limit", limit, 1)
        check_int_at_least(owner, "max_queue", max_queue, 0)
        check_optional_positive(owner, "max_wait", max_wait)
        self._retry_after = whole_seconds(check_positive(owner, "retry_after", retry_after))
        self._prefixes: tuple[str, ...] | None = None
        if routes is not None:
            if isinstance(routes, str) or not isinstance(routes, Iterable):
                raise ConfigError(f"{owner}(routes=...) must be a list of paths, got {routes!r}")
            prefixes = tuple(routes)
            for prefix in prefixes:
                if not isinstance(prefix, str) or not prefix.startswith("/"):
                    raise ConfigError(
                        f"{owner}(routes=...) must hold paths starting with '/', got {prefix!r}"
                    )
            self._prefixes = tuple(prefix.rstrip("/") for prefix in prefixes)
        self.gate = Gate(
            name, concurrency=Concurrency(limit, max_queue=max_queue, max_wait=max_wait)
        )

    def covers(self, path: str) -> bool:
        """Whether a request for ``path`` is held to the limit."""
        if self._prefixes is None:
            return True
        return any(under(path, prefix) for prefix in self._prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        admitted = False

        async def handle() -> None:
            nonlocal admitted
            admitted = True
            await self.app(scope, receive, send)

        try:
            await self.gate.run(handle)
        except OverloadedError as exc:
            if admitted:  # refused by a gate inside the application: its error, not ours
                raise
            await overloaded(send, self.gate.name, exc.reason, self._retry_after)

    async def aclose(self) -> None:
        """Close the gate (requests still running finish)."""
        await self.gate.aclose()
