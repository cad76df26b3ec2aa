"""The OpenAI-compatible client: every call through a Gate, over a pooled aiohttp session.

The pool belongs to the event loop the client is first used on. From synchronous code, the
``*_sync`` methods run calls on sluice's background loop (the portal), which then owns the
pool; mixing the two on one client raises a clear error rather than corrupting it.

    async with sluice.llm.Client("http://127.0.0.1:8000/v1", api_key="sk-...") as client:
        result = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", ...}])
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine, Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from .. import Breaker, Concurrency, ConfigError, Gate, Rate, Retry, Timeout, run_sync
from ..openai import (
    Choice,
    Model,
    decode_chat,
    decode_embeddings,
    decode_models,
    encode_json,
    parse_request_id,
)
from ..openai._fast import builder
from ._settings import (
    UNSET,
    Unset,
    base_headers,
    build_gate,
    chat_body,
    check_base_url,
    check_headers,
    check_max_connections,
    check_model,
    public_url,
)
from ._stream import ChatStream
from ._sync import SyncChatStream
from ._tokens import TokenEstimator, estimate_tokens
from ._transport import AiohttpTransport, Request, Transport
from ._types import ChatResult, ClientStatistics, Embeddings
from ._wire import Decoder, Reply, Wire, send_json

# Every call builds one of these: at the cost of a mutable dataclass (see `builder`).
_chat_result = builder(ChatResult)
_embeddings = builder(Embeddings)
_request = builder(Request)

__all__ = ["Client"]

Messages = Sequence[Mapping[str, Any]]
EmbeddingInput = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]


class Client:
    """An async client for OpenAI-compatible APIs: chat, streamed chat, embeddings, models.

    Every call runs through a `sluice.Gate`, so its concurrency limit, rate limits, retries,
    circuit breaker and timeouts apply; the rate limits the server reports are fed back to
    the gate, and a 429 or 503 carrying Retry-After pauses all its new calls.

        async with Client("https://api.openai.com/v1", api_key=key, concurrency=32) as client:
            result = await client.chat(model="gpt-4o-mini", messages=msgs, max_tokens=200)
        result = client.chat_sync(model="gpt-4o-mini", messages=msgs)  # from sync code

    Args:
        base_url: the API root, as in the OpenAI SDK (``http://127.0.0.1:8000/v1``).
        api_key: sent as ``Authorization: Bearer ...``; never logged, shown or put in errors.
            Not read from the environment: pass ``os.environ["OPENAI_API_KEY"]`` yourself.
        gate: the Gate to run calls through (to share one between clients, say). Without it
            the client makes its own from ``concurrency``, ``rate``, ``retry``, ``timeout``
            and ``breaker``, each ``None`` to turn it off. The defaults suit LLM APIs:
            ``max_connections`` calls in flight; no configured rate (the server's
            ``x-ratelimit-*`` headers teach it); 3 attempts with jittered exponential
            backoff, Retry-After honoured up to 120 s and a gate-wide retry budget; 300 s
            per attempt; a breaker opening at 50 % failures of the last 20 calls for 30 s
            that does not count 429s (see `llm_failure`).
        max_connections: size of the keep-alive connection pool (keep ``concurrency`` at or
            below it: calls beyond it would wait for a connection outside the gate).
        headers: extra headers for every request (``extra_headers=`` adds per call).
        transport: where requests go; default ``AiohttpTransport(max_connections=...)``.
        token_estimator: ``(request body) -> tokens`` reserved on the gate's token budget
            before each call and settled from the answer's usage; default `estimate_tokens`.
            Called only when the gate meters tokens (a ``tpm`` rate, configured or learned).
        name: the gate's name; default ``llm:<host>``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        gate: Gate | None = None,
        concurrency: Concurrency | int | Unset | None = UNSET,
        rate: Rate | Unset | None = UNSET,
        retry: Retry | int | Unset | None = UNSET,
        timeout: Timeout | float | Unset | None = UNSET,
        breaker: Breaker | Unset | None = UNSET,
        max_connections: int = 100,
        headers: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        token_estimator: TokenEstimator | None = None,
        name: str | None = None,
    ) -> None:
        self._base_url = check_base_url(base_url)
        self._display_url = public_url(self._base_url)
        max_connections = check_max_connections(max_connections)
        self._headers, secrets = base_headers(api_key, headers)
        self._has_key = bool(api_key)
        if transport is not None and not isinstance(transport, Transport):
            raise ConfigError(
                f"Client(transport=...) needs send(request) and aclose(), got {transport!r}"
            )
        if token_estimator is not None and not callable(token_estimator):
            raise ConfigError("Client(token_estimator=...) must be a callable (body) -> tokens")
        self._urls = {
            path: f"{self._base_url}/{path}"
            for path in ("chat/completions", "embeddings", "models")
        }
        settings: dict[str, object] = {"concurrency": concurrency, "rate": rate}
        settings.update(retry=retry, timeout=timeout, breaker=breaker)
        given = [key for key, value in settings.items() if value is not UNSET]
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
            host = urlsplit(self._base_url).netloc.rpartition("@")[2]
            gate_name = name or f"llm:{host}"
            args = (concurrency, rate, retry, timeout, breaker)
            self._gate, self._owns_gate = build_gate(gate_name, max_connections, *args), True
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

    # ------------------------------------------------------------------ calls
    async def chat(
        self,
        *,
        model: str,
        messages: Messages,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> ChatResult:
        """A chat completion; ``params`` go into the request body as they are
        (``max_tokens=``, ``temperature=``, ``tools=``...)."""
        if params.get("stream"):
            raise ConfigError("chat(stream=True): use client.stream_chat(...) to stream")
        body = chat_body(model, messages, params, extra_body)
        call = self._call("chat/completions", body, extra_headers, decode_chat)
        clock = self._wire.clock
        start = clock()
        reply = await call
        choices: tuple[Choice, ...] = reply.value
        usage = reply.usage
        first = choices[0] if choices else None
        data = reply.data
        return _chat_result(
            text="" if first is None else first.text,
            tool_calls=() if first is None else first.tool_calls,
            finish_reason=None if first is None else first.finish_reason,
            usage=usage,
            model=data.get("model"),
            id=data.get("id"),
            choices=choices,
            status=reply.status,
            request_id=parse_request_id(reply.headers),
            rate_limits=reply.rate_limits,
            latency=clock() - start,
            ttfb=reply.ttfb,
            headers=reply.headers,
            raw=data,
        )

    def stream_chat(
        self,
        *,
        model: str,
        messages: Messages,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> ChatStream:
        """A streamed chat completion: an async iterator of `ChatDelta` that records time to
        first token (``ttft``), inter-token gaps (``itl``) and ``usage``. Usage is asked for
        (``stream_options={"include_usage": True}``) unless ``stream_options`` is given;
        ``stream_options=None`` sends none.

            async with client.stream_chat(model="m", messages=msgs) as stream:
                async for delta in stream:
                    print(delta.text, end="")
            print(stream.ttft, stream.usage)
        """
        params["stream"] = True
        if "stream_options" not in params:
            params["stream_options"] = {"include_usage": True}
        elif params["stream_options"] is None:
            del params["stream_options"]
        body = chat_body(model, messages, params, extra_body)
        request = self._request("chat/completions", body, extra_headers)
        return ChatStream(self._wire, request, functools.partial(self._estimate, body))

    async def embed(
        self,
        *,
        model: str,
        input: EmbeddingInput,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Embeddings:
        """Embeddings of ``input`` (a string, strings, or token ids), one vector per input.
        Vectors sent base64-encoded (``encoding_format="base64"``) are decoded."""
        check_model(model)
        body: dict[str, Any] = {"model": model, "input": input, **params}
        if extra_body:
            body.update(extra_body)
        call = self._call("embeddings", body, extra_headers, decode_embeddings)
        clock = self._wire.clock
        start = clock()
        reply = await call
        return _embeddings(
            vectors=reply.value,
            usage=reply.usage,
            model=reply.data.get("model"),
            status=reply.status,
            request_id=parse_request_id(reply.headers),
            rate_limits=reply.rate_limits,
            latency=clock() - start,
            ttfb=reply.ttfb,
            headers=reply.headers,
        )

    async def models(self, *, extra_headers: Mapping[str, str] | None = None) -> tuple[Model, ...]:
        """The models the server offers (``GET /models``)."""
        reply = await self._call("models", None, extra_headers, decode_models)
        models: tuple[Model, ...] = reply.value
        return models

    # ------------------------------------------------------------------ sync twins
    def chat_sync(self, *, model: str, messages: Messages, **params: Any) -> ChatResult:
        """`chat` from synchronous code (on sluice's background loop); same arguments."""
        return run_sync(self.chat, model=model, messages=messages, **params)

    def stream_chat_sync(self, *, model: str, messages: Messages, **params: Any) -> SyncChatStream:
        """`stream_chat` from synchronous code: a plain iterator of deltas."""
        return SyncChatStream(self.stream_chat(model=model, messages=messages, **params))

    def embed_sync(self, *, model: str, input: EmbeddingInput, **params: Any) -> Embeddings:
        """`embed` from synchronous code; same arguments."""
        return run_sync(self.embed, model=model, input=input, **params)

    def models_sync(self, *, extra_headers: Mapping[str, str] | None = None) -> tuple[Model, ...]:
        """`models` from synchronous code."""
        return run_sync(self.models, extra_headers=extra_headers)

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """Close the connection pool, and the gate if the client made it. Works from any
        loop: the pool is closed on the loop it belongs to."""
        wire = self._wire
        if wire.closed:
            return
        wire.closed = True
        owner = wire.loop
        if owner is None or owner is asyncio.get_running_loop():
            await self._close_here()
        elif owner.is_running():
            future = asyncio.run_coroutine_threadsafe(self._close_here(), owner)
            await asyncio.wait_for(asyncio.wrap_future(future), timeout=30.0)
        elif not owner.is_closed():
            raise RuntimeError(
                "the event loop this client was used on is not running, so its connection "
                "pool cannot be closed from here; close the client on that loop"
            )

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
        self, path: str, body: Mapping[str, Any] | None, extra_headers: Mapping[str, str] | None
    ) -> Request:
        headers = self._headers
        if extra_headers:
            extra = check_headers(extra_headers, "extra_headers")
            headers = {**headers, **{name.lower(): value for name, value in extra.items()}}
        if body is None:
            return _request("GET", self._urls[path], headers, None)
        try:
            content = encode_json(body)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"the request body cannot be sent as JSON: {exc}") from None
        return _request("POST", self._urls[path], headers, content)

    def _call(
        self,
        path: str,
        body: Mapping[str, Any] | None,
        extra_headers: Mapping[str, str] | None,
        decode: Decoder,
    ) -> Coroutine[Any, Any, Reply]:
        """The gate call for one request (returned, not awaited here: one frame less)."""
        wire = self._wire
        wire.enter()  # a closed client or a foreign loop fails here, before the gate
        request = self._request(path, body, extra_headers)
        # Estimated only if the gate meters tokens (the estimate is a function until then).
        tokens = None if body is None else functools.partial(self._estimate, body)
        return self._gate.run(send_json, wire, request, decode, tokens=tokens)
