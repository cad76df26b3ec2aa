"""`Shed`: answer 503 at once when the gates a request needs are overloaded, rather than let
it queue behind them (or fail after a wait the client pays for)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .._core.deadline import time_remaining
from .._errors import ConfigError
from .._gate import Gate
from .._validate import check_int_at_least, check_non_negative, check_positive
from ._overload import REASONS, Overload, Rule, overload
from ._types import ASGIApp, Receive, Scope, Send, overloaded, under, whole_seconds

__all__ = ["Shed", "ShedStatistics"]


@dataclass(frozen=True, slots=True)
class ShedStatistics:
    """Counts of a `Shed` middleware since it was made: HTTP ``requests`` checked, ``shed``
    answered 503, and the shed ones by reason and by gate name."""

    requests: int
    shed: int
    by_reason: Mapping[str, int]
    by_gate: Mapping[str, int]


class Shed:
    """ASGI middleware: a request whose gates are overloaded gets 503 at once.

    ``gates`` are checked for every HTTP request; ``routes`` maps path prefixes to the gates
    of the requests under them (``"/v1/chat"`` covers ``/v1/chat`` and ``/v1/chat/...``, the
    longest matching prefix wins). Each gate is checked in order; the first of these
    conditions that holds sheds the request:

    1. ``closed``: the gate was closed;
    2. ``circuit_open``: its breaker is open (half-open lets requests through to probe);
    3. ``paused``: it is paused (`Gate.pause`, or an upstream's Retry-After);
    4. ``store_unavailable``: its shared store cannot be reached and fails closed;
    5. ``queue_full``: ``max_queue`` callers wait for a permit already; the default,
       ``"limit"``, is as many as the gate's concurrency limit (``None``: no bound);
    6. ``rate_limited``: a new call would wait for its rate slot longer than
       ``max_rate_wait``, or than the request's time left (`sluice.time_remaining()`, set
       by `Deadlines` placed before this middleware).

    The answer is 503 with ``Retry-After`` (whole seconds, rounded up, at least 1): the
    breaker's, the pause's or the rate wait's when known, else ``retry_after``; and a JSON
    body ``{"error": "overloaded", "gate": ..., "reason": ..., "retry_after": ...}``. A
    request that passes is not held: the gates apply their own limits to its calls. Other
    scopes (lifespan, websocket) pass through untouched.

        app = Shed(app, routes={"/v1/chat": [llm_gate], "/v1/search": [search_gate]})
        # llm_gate's breaker opens -> POST /v1/chat/completions: 503, Retry-After: 30
        app.statistics().by_reason["circuit_open"]

    Raises `ConfigError` for a value it cannot work with, naming the parameter.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        gates: Iterable[Gate] = (),
        routes: Mapping[str, Iterable[Gate]] | None = None,
        max_queue: int | Literal["limit"] | None = "limit",
        max_rate_wait: float | None = None,
        retry_after: float = 1.0,
    ) -> None:
        owner = "Shed"
        if not callable(app):
            raise ConfigError(f"{owner}(app=...) must be an ASGI application, got {app!r}")
        self.app = app
        self._gates = _gate_list(owner, "gates", gates)
        self._routes: list[tuple[str, tuple[Gate, ...]]] = []
        if routes is not None:
            if not isinstance(routes, Mapping):
                raise ConfigError(f"{owner}(routes=...) must be a mapping, got {routes!r}")
            for prefix, route_gates in routes.items():
                if not isinstance(prefix, str) or not prefix.startswith("/"):
                    raise ConfigError(
                        f"{owner}(routes=...) keys must be paths starting with '/', got {prefix!r}"
                    )
                listed = _gate_list(owner, f"routes[{prefix!r}]", route_gates)
                self._routes.append((prefix.rstrip("/"), listed))
            self._routes.sort(key=lambda route: len(route[0]), reverse=True)
        if not self._gates and not any(listed for _, listed in self._routes):
            raise ConfigError(f"{owner}(gates=..., routes=...) must name at least one gate")
        self._rule = Rule(
            max_queue=None
            if max_queue is None or max_queue == "limit"
            else check_int_at_least(owner, "max_queue", max_queue, 1),
            queue_at_limit=max_queue == "limit",
            max_rate_wait=None
            if max_rate_wait is None
            else check_non_negative(owner, "max_rate_wait", max_rate_wait),
        )
        self._retry_after = check_positive(owner, "retry_after", retry_after)
        self._requests = 0
        self._by_reason: dict[str, int] = {}
        self._by_gate: dict[str, int] = {}

    def statistics(self) -> ShedStatistics:
        """A snapshot of the counters."""
        by_reason = {reason: self._by_reason.get(reason, 0) for reason in REASONS}
        return ShedStatistics(
            requests=self._requests,
            shed=sum(by_reason.values()),
            by_reason=MappingProxyType(by_reason),
            by_gate=MappingProxyType(dict(self._by_gate)),
        )

    def gates_for(self, path: str) -> tuple[Gate, ...]:
        """The gates a request for ``path`` is checked against."""
        for prefix, listed in self._routes:
            if under(path, prefix):
                return self._gates + listed
        return self._gates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._requests += 1
        gates = self.gates_for(scope["path"]) if self._routes else self._gates
        if gates:
            remaining = time_remaining()
            rule = self._rule
            for gate in gates:
                verdict = overload(gate, rule, remaining)
                if verdict is not None:
                    await self._shed(send, verdict)
                    return
        await self.app(scope, receive, send)

    async def _shed(self, send: Send, verdict: Overload) -> None:
        self._by_reason[verdict.reason] = self._by_reason.get(verdict.reason, 0) + 1
        self._by_gate[verdict.gate] = self._by_gate.get(verdict.gate, 0) + 1
        wait = self._retry_after if verdict.retry_after is None else verdict.retry_after
        await overloaded(send, verdict.gate, verdict.reason, whole_seconds(wait))


def _gate_list(owner: str, parameter: str, gates: object) -> tuple[Gate, ...]:
    if isinstance(gates, Gate) or not isinstance(gates, Iterable) or isinstance(gates, str):
        raise ConfigError(f"{owner}({parameter}=...) must be a list of gates, got {gates!r}")
    listed = tuple(gates)
    for gate in listed:
        if not isinstance(gate, Gate):
            raise ConfigError(f"{owner}({parameter}=...) must hold only gates, got {gate!r}")
    return listed
