"""The plumbing of a client: its settings, its connection and gate, the request and the gate
call every method makes, and its lifecycle. `Client` adds the API's methods on top.

    class Client(ClientBase):
        async def chat(self, **arguments):
            body = chat_body(...)
            reply = await self._call("chat", "chat/completions", body, decode_chat, ...)
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from .. import Adaptive, Breaker, Concurrency, ConfigError, Gate, Rate, Retry, Timeout, run_sync
from .._core.state import StateStore
from .._validate import check_int_at_least
from ..openai import MAX_EVENT_SIZE, encode_json, split_credentials
from ..openai._fast import builder
from ._fanout import Job, Requests, jobs
from ._params import chat_body, check_headers, embedding_body, with_query
from ._settings import (
    UNSET,
    Unset,
    base_headers,
    build_gate,
    call_timeout,
    check_base_url,
    check_max_connections,
)
from ._tokens import TokenEstimator, estimate_tokens
from ._transport import AiohttpTransport, Request, Transport
from ._types import ClientStatistics
from ._wire import Decoder, Reply, Wire, send_json

__all__ = ["Body", "CallTimeout", "ClientBase", "Headers", "Query"]

_request = builder(Request)  # built on every call: at the cost of a mutable dataclass

_S = TypeVar("_S")
# A stream class, called as (wire, request, tokens, timeout, max_event_size)
_StreamType = Callable[[Wire, Request, Callable[[], float], Timeout | None, int], _S]

CallTimeout = Timeout | float | None | Unset
Headers = Mapping[str, str] | None
Query = Mapping[str, Any] | None
Body = Mapping[str, Any] | None


class ClientBase:
    """What every method of `Client` stands on (its arguments are documented there)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        gate: Gate | None = None,
        concurrency: Concurrency | Adaptive | int | Unset | None = UNSET,
        rate: Rate | Unset | None = UNSET,
        retry: Retry | int | Unset | None = UNSET,
        timeout: Timeout | float | Unset | None = UNSET,
        breaker: Breaker | Unset | None = UNSET,
        max_connections: int = 100,
        headers: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        token_estimator: TokenEstimator | None = None,
        max_event_size: int = MAX_EVENT_SIZE,
        name: str | None = None,
        shared: str | StateStore | None = None,
    ) -> None:
        public, user, password = split_credentials(check_base_url(base_url))
        self._display_url = public
        max_connections = check_max_connections(max_connections)
        self._headers, secrets = base_headers(api_key, headers, user, password)
        self._has_key = bool(api_key)
        if transport is not None and not isinstance(transport, Transport):
            raise ConfigError(
                f"Client(transport=...) needs send(request) and aclose(), got {transport!r}"
            )
        if token_estimator is not None and not callable(token_estimator):
            raise ConfigError("Client(token_estimator=...) must be a callable (body) -> tokens")
        self._max_event_size = check_int_at_least("Client", "max_event_size", max_event_size, 1)
        paths = ("chat/completions", "completions", "embeddings", "models", "responses")
        self._urls = {path: f"{public}/{path}" for path in paths}
        settings: dict[str, object] = {"concurrency": concurrency, "rate": rate}
        settings.update(retry=retry, timeout=timeout, breaker=breaker)
        given = [key for key, value in settings.items() if value is not UNSET]
        if shared is not None:
            given.append("shared")
        if gate is not None:
            if given:
                raise ConfigError(
                    f"Client(gate=...) was given with {', '.join(given)}=...: configure the "
                    "gate you pass, or pass the settings without a gate"
                )
            if not isinstance(gate, Gate):
                raise ConfigError(f"Client(gate=...) must be a sluice.Gate, got {gate!r}")
            self._gate, self._owns_gate = gate, False
        else:
            gate_name = name or f"llm:{urlsplit(public).netloc}"
            args = (concurrency, rate, retry, timeout, breaker)
            gate_made = build_gate(gate_name, max_connections, *args, shared=shared)
            self._gate, self._owns_gate = gate_made, True
        self._transport: Transport = (
            AiohttpTransport(max_connections=max_connections) if transport is None else transport
        )
        self._estimate: TokenEstimator = token_estimator or estimate_tokens
        self._wire = Wire(self._transport, self._gate, secrets, self._display_url)

    @property
    def base_url(self) -> str:
        return self._display_url

    @property
    def gate(self) -> Gate:
        return self._gate

    @property
    def closed(self) -> bool:
        return self._wire.closed

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """Close the connection pool, and the gate if the client made it. Works from any
        loop: the pool is closed on the loop it belongs to."""
        wire = self._wire
        if wire.closed:
            return
        owner = wire.loop
        if owner is None or owner is asyncio.get_running_loop() or owner.is_closed():
            wire.closed = True  # (a loop that has ended: the transport says what was left)
            await self._close_here()
            return
        if not owner.is_running():
            raise RuntimeError(
                "the event loop this client was used on is not running, so its connection "
                "pool cannot be closed from here; close the client on that loop"
            )
        wire.closed = True
        async with asyncio.timeout(30.0):
            await wire.forward(self._close_here())

    def close(self) -> None:
        """`aclose` from synchronous code."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._wire.loop:
            raise RuntimeError(
                "client.close() would block the event loop that owns the client; "
                "use 'await client.aclose()' there"
            )
        run_sync(self.aclose)

    async def _close_here(self) -> None:
        try:
            await self._transport.aclose()
        finally:
            if self._owns_gate:
                await self._gate.aclose()

    def statistics(self) -> ClientStatistics:
        """A snapshot of the client's counters and of its gate's statistics."""
        wire = self._wire
        return ClientStatistics(
            base_url=self._display_url,
            requests=wire.requests,
            responses=MappingProxyType(dict(wire.responses)),
            transport_errors=wire.transport_errors,
            streams_interrupted=wire.interrupted,
            rate_limits=wire.last_limits,
            gate=self._gate.statistics(),
        )

    def __repr__(self) -> str:
        key = ", api_key=***" if self._has_key else ""
        state = ", closed" if self._wire.closed else ""
        return f"Client({self._display_url!r}{key}, gate={self._gate.name!r}{state})"

    # ------------------------------------------------------------------ internals
    def _request(
        self, path: str, body: Body, extra_headers: Headers, extra_query: Query
    ) -> Request:
        headers = self._headers
        if extra_headers:
            extra = check_headers(extra_headers, "extra_headers")
            headers = {**headers, **{name.lower(): value for name, value in extra.items()}}
        url = self._urls[path] if not extra_query else with_query(self._urls[path], extra_query)
        if body is None:
            return _request("GET", url, headers, None)
        try:
            content = encode_json(body)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"the request body cannot be sent as JSON: {exc}") from None
        return _request("POST", url, headers, content)

    def _call(
        self,
        method: str,
        path: str,
        body: Body,
        decode: Decoder,
        timeout: CallTimeout,
        extra_headers: Headers,
        extra_query: Query,
    ) -> Coroutine[Any, Any, Reply]:
        """The gate call for one request (returned, not awaited here: one frame less)."""
        wire = self._wire
        here = wire.enter()  # a closed client fails here, before the gate
        request = self._request(path, body, extra_headers, extra_query)
        # Estimated only if the gate meters tokens (the estimate is a function until then).
        tokens = None if body is None else functools.partial(self._estimate, body)
        if timeout is UNSET:
            call = self._gate.run(send_json, wire, request, decode, tokens=tokens)
        else:
            options = self._gate.options(timeout=call_timeout(timeout, method), tokens=tokens)
            call = options.run(send_json, wire, request, decode)
        return call if here else wire.forward(call)

    def _stream(
        self,
        make: _StreamType[_S],
        method: str,
        path: str,
        body: Mapping[str, Any],
        timeout: CallTimeout,
        extra_headers: Headers,
        extra_query: Query,
    ) -> _S:
        """A streamed call of ``method`` (made by ``make``, a stream class), not yet sent:
        it runs through the gate once iterated."""
        limits = None if timeout is UNSET else call_timeout(timeout, method)
        request = self._request(path, body, extra_headers, extra_query)
        tokens = functools.partial(self._estimate, body)
        return make(self._wire, request, tokens, limits, self._max_event_size)

    def _many_request(self, method: str, arguments: Mapping[str, Any]) -> Request:
        """One request of a fan-out method: ``arguments`` are those of `chat` (or of `embed`
        for ``embed_many``)."""
        params = _per_request(method, arguments)
        model = params.pop("model", None)
        headers, query = params.pop("extra_headers", None), params.pop("extra_query", None)
        extra_body = params.pop("extra_body", None)
        if method == "embed_many":
            body = embedding_body(model, params.pop("input", None), params, extra_body, method)
            return self._request("embeddings", body, headers, query)
        body = chat_body(model, params.pop("messages", None), params, extra_body, method)
        return self._request("chat/completions", body, headers, query)

    async def _map(
        self,
        method: str,
        send: Callable[[Job], Awaitable[Any]],
        requests: Requests,
        ordered: bool,
        errors: Literal["raise", "return"],
        window: int | None,
        common: Mapping[str, Any],
    ) -> list[Any]:
        """``gate.map`` over the requests, each one gate call of ``send``; on the owning
        loop."""
        wire = self._wire
        here = wire.enter()
        prepare = functools.partial(self._many_request, method)
        items = jobs(requests, common, prepare, wire, method)
        call = self._gate.map(send, items, ordered=ordered, errors=errors, window=window)
        return await (call if here else wire.forward(call))


def _per_request(method: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A fan-out request's arguments, without what only a single call can take."""
    if "timeout" in arguments:
        raise TypeError(
            f"{method}() runs each request under the gate's Timeout; a timeout per request is "
            "not taken (set it on the client: Client(timeout=...))"
        )
    if "stream" in arguments:
        raise TypeError(f"{method}() returns whole answers; stream with client.stream_chat()")
    return dict(arguments)
