"""The OpenAI-compatible client: every call through a Gate, over a pooled aiohttp session.

The pool and the gate belong to the event loop that first uses the client (sluice's
background loop, when that is a ``*_sync`` method). Calls from another loop are forwarded to
it while it runs, so one client serves synchronous and async callers alike (see `_loops`).

    async with sluice.llm.Client("http://127.0.0.1:8000/v1", api_key="sk-...") as client:
        result = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", ...}])
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

from .. import ConfigError, Err, Ok, run_sync
from ..openai import (
    Model,
    decode_chat,
    decode_embeddings,
    decode_models,
    decode_usage,
    parse_request_id,
)
from ._base import Body, CallTimeout, Headers, Query
from ._fanout import Requests, Results, jobs, send_chat, send_embedding
from ._loops import ForwardedIterator, check_blocking
from ._params import chat_body, embedding_body, streaming
from ._responses_client import ResponsesClient
from ._results import chat_result, embeddings_result
from ._settings import UNSET
from ._stream import ChatStream
from ._sync import SyncChatStream
from ._types import ChatResult, Embeddings, RawResult

__all__ = ["Client"]

Messages = Sequence[Mapping[str, Any]]
_POST_PATHS = ("chat/completions", "completions", "embeddings", "responses")


def _decode_raw(data: Mapping[str, Any]) -> tuple[Any, Any]:
    return data, decode_usage(data.get("usage"))


EmbeddingInput = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]


class Client(ResponsesClient):
    """An async client for OpenAI-compatible APIs: chat, streamed chat, embeddings, models,
    and the Responses API (`responses`, `stream_responses`).

    Every call runs through a `sluice.Gate`, so its concurrency limit, rate limits, retries,
    circuit breaker and timeouts apply; the rate limits the server reports are fed back to
    the gate, and a 429 or 503 carrying Retry-After pauses all its new calls.

        async with Client("https://api.openai.com/v1", api_key=key, concurrency=32) as client:
            result = await client.chat(model="gpt-4o-mini", messages=msgs, max_tokens=200)
            results = await client.chat_many([{"messages": m} for m in many], model="gpt-4o-mini")
        result = client.chat_sync(model="gpt-4o-mini", messages=msgs)  # from sync code

    Args:
        base_url: the API root, as in the OpenAI SDK (``http://127.0.0.1:8000/v1``).
            Credentials in it (``https://user:password@host/v1``) are sent as Basic
            authentication and shown nowhere.
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
        transport: where requests go; default ``AiohttpTransport(max_connections=...)``
            (which bounds a response body read whole: ``max_body_size``).
        token_estimator: ``(request body) -> tokens`` reserved on the gate's token budget
            before each call and settled from the answer's usage; default `estimate_tokens`.
            Called only when the gate meters tokens (a ``tpm`` rate, configured or learned).
        max_event_size: bytes one event of a streamed answer may hold (default 16 MiB);
            a larger one fails the stream with `ResponseTooLargeError`.
        name: the gate's name; default ``llm:<host>``.
        shared: share the gate's limits (rate, concurrency, breaker, cooldown) with every
            process that builds a client of the same ``name``: a Redis URL or a
            `sluice.stores.RedisState` (see `sluice.Gate`); not with ``gate=``.
    """

    # ------------------------------------------------------------------ calls
    async def chat(
        self,
        *,
        model: str,
        messages: Messages,
        timeout: CallTimeout = UNSET,  # noqa: ASYNC109 - the SDK's per-call timeout
        extra_headers: Headers = None,
        extra_query: Query = None,
        extra_body: Body = None,
        **params: Any,
    ) -> ChatResult:
        """A chat completion. ``params`` are the API's body parameters (``max_tokens=``,
        ``temperature=``, ``tools=``...); any other name is refused (a server's own go in
        ``extra_body=``). ``timeout`` replaces the gate's for this call: seconds per attempt,
        a `sluice.Timeout` for attempt and total, None for no limit.

            result = await client.chat(model="m", messages=msgs, max_tokens=50, timeout=20)
        """
        if params.get("stream"):
            raise ConfigError("chat(stream=True): use client.stream_chat(...) to stream")
        body = chat_body(model, messages, params, extra_body)
        call = self._call(
            "chat", "chat/completions", body, decode_chat, timeout, extra_headers, extra_query
        )
        clock = self._wire.clock
        start = clock()
        reply = await call
        return chat_result(reply, clock() - start)

    def stream_chat(
        self,
        *,
        model: str,
        messages: Messages,
        timeout: CallTimeout = UNSET,
        extra_headers: Headers = None,
        extra_query: Query = None,
        extra_body: Body = None,
        **params: Any,
    ) -> ChatStream:
        """A streamed chat completion: an async iterator of `ChatDelta` that records time to
        first token (``ttft``), inter-token gaps (``itl``) and ``usage``. Usage is asked for
        (``stream_options={"include_usage": True}``) unless ``stream_options`` is given;
        ``stream_options=None`` sends none. ``timeout`` as for `chat`; an attempt's time
        covers the whole stream.

            async with client.stream_chat(model="m", messages=msgs) as stream:
                async for delta in stream:
                    print(delta.text, end="")
            print(stream.ttft, stream.usage)
        """
        streaming(params, "stream_chat", "chat")
        if "stream_options" not in params:
            params["stream_options"] = {"include_usage": True}
        elif params["stream_options"] is None:
            del params["stream_options"]
        body = chat_body(model, messages, params, extra_body, "stream_chat")
        return self._stream(
            ChatStream, "stream_chat", "chat/completions", body, timeout, extra_headers, extra_query
        )

    async def embed(
        self,
        *,
        model: str,
        input: EmbeddingInput,
        timeout: CallTimeout = UNSET,  # noqa: ASYNC109 - the SDK's per-call timeout
        extra_headers: Headers = None,
        extra_query: Query = None,
        extra_body: Body = None,
        **params: Any,
    ) -> Embeddings:
        """Embeddings of ``input`` (a string, strings, or token ids), one vector per input.
        ``params``: ``dimensions=``, ``encoding_format=`` (base64 vectors are decoded),
        ``user=``; ``timeout`` and the ``extra_*`` arguments as for `chat`.

            vectors = (await client.embed(model="e", input=["a", "b"])).vectors
        """
        body = embedding_body(model, input, params, extra_body)
        call = self._call(
            "embed", "embeddings", body, decode_embeddings, timeout, extra_headers, extra_query
        )
        clock = self._wire.clock
        start = clock()
        reply = await call
        return embeddings_result(reply, clock() - start)

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        timeout: CallTimeout = UNSET,  # noqa: ASYNC109 - the SDK's per-call timeout
        extra_headers: Headers = None,
        extra_query: Query = None,
    ) -> RawResult:
        """A request whose body is sent as given and whose answer comes back undecoded:
        ``path`` is one of ``chat/completions``, ``completions``, ``embeddings`` or
        ``responses``. For
        callers that carry bodies through unchanged (a batch file, a proxy); the gate, its
        retries and the token budget apply as for `chat`. A streamed body is refused.

            result = await client.post("completions", {"model": "m", "prompt": "Hi"})
            result.body["choices"][0]["text"]
        """
        if path not in _POST_PATHS:
            raise ConfigError(
                f"post({path!r}, ...): the path must be one of {', '.join(_POST_PATHS)}"
            )
        if not isinstance(body, Mapping):
            raise TypeError(f"post(): the body must be a mapping, got {type(body).__name__}")
        if body.get("stream"):
            raise ConfigError("post() returns whole answers: send the body without stream")
        call = self._call("post", path, body, _decode_raw, timeout, extra_headers, extra_query)
        clock = self._wire.clock
        start = clock()
        reply = await call
        return RawResult(
            status=reply.status,
            body=reply.data,
            usage=reply.usage,
            request_id=parse_request_id(reply.headers),
            rate_limits=reply.rate_limits,
            latency=clock() - start,
            ttfb=reply.ttfb,
            headers=reply.headers,
        )

    async def models(
        self,
        *,
        timeout: CallTimeout = UNSET,  # noqa: ASYNC109 - the SDK's per-call timeout
        extra_headers: Headers = None,
        extra_query: Query = None,
    ) -> tuple[Model, ...]:
        """The models the server offers (``GET /models``)."""
        call = self._call(
            "models", "models", None, decode_models, timeout, extra_headers, extra_query
        )
        models: tuple[Model, ...] = (await call).value
        return models

    # ------------------------------------------------------------------ many requests
    @overload
    async def chat_many(
        self,
        requests: Requests,
        *,
        ordered: bool = True,
        errors: Literal["raise"] = "raise",
        window: int | None = None,
        **common: Any,
    ) -> list[ChatResult]: ...
    @overload
    async def chat_many(
        self,
        requests: Requests,
        *,
        ordered: bool = True,
        errors: Literal["return"],
        window: int | None = None,
        **common: Any,
    ) -> list[Ok[ChatResult] | Err]: ...

    async def chat_many(
        self,
        requests: Requests,
        *,
        ordered: bool = True,
        errors: Literal["raise", "return"] = "raise",
        window: int | None = None,
        **common: Any,
    ) -> list[Any]:
        """A chat completion for each request: a mapping of `chat`'s arguments, to which
        ``common`` adds those they share (their own win). Each request is one call through
        the gate, with its limits, retries and timeout; at most ``window`` run at once
        (default: the gate's concurrency limit). Results come in input order
        (``ordered=False``: as they finish); the first failure cancels the rest and is raised,
        unless ``errors="return"``, which gives `Ok` / `Err` per request.

            results = await client.chat_many(
                [{"messages": [{"role": "user", "content": q}]} for q in questions],
                model="gpt-4o-mini", max_tokens=100,
            )
        """
        return await self._map("chat_many", send_chat, requests, ordered, errors, window, common)

    def chat_iter(
        self,
        requests: Requests,
        *,
        ordered: bool = False,
        window: int | None = None,
        **common: Any,
    ) -> Results[ChatResult]:
        """`chat_many` as results arrive: ``(index, Ok | Err)`` pairs, pulling requests only
        as fast as they are consumed. Leaving the ``async with`` block cancels what runs.

            async with client.chat_iter(requests, model="m") as results:
                async for index, outcome in results:
                    print(index, outcome.value.text if outcome.ok else outcome.error)
        """
        wire = self._wire
        here = wire.enter()
        prepare = functools.partial(self._many_request, "chat_iter")
        items = jobs(requests, common, prepare, wire, "chat_iter")
        stream = self._gate.stream(send_chat, items, ordered=ordered, window=window)
        if here:
            return stream
        assert wire.loop is not None  # set by enter()
        return ForwardedIterator(stream, wire.loop)

    @overload
    async def embed_many(
        self,
        requests: Requests,
        *,
        ordered: bool = True,
        errors: Literal["raise"] = "raise",
        window: int | None = None,
        **common: Any,
    ) -> list[Embeddings]: ...
    @overload
    async def embed_many(
        self,
        requests: Requests,
        *,
        ordered: bool = True,
        errors: Literal["return"],
        window: int | None = None,
        **common: Any,
    ) -> list[Ok[Embeddings] | Err]: ...

    async def embed_many(
        self,
        requests: Requests,
        *,
        ordered: bool = True,
        errors: Literal["raise", "return"] = "raise",
        window: int | None = None,
        **common: Any,
    ) -> list[Any]:
        """`embed` for each request (a mapping of its arguments), as `chat_many` does.

        batches = [{"input": chunk} for chunk in chunks_of(texts, 256)]
        results = await client.embed_many(batches, model="text-embedding-3-small")
        """
        return await self._map(
            "embed_many", send_embedding, requests, ordered, errors, window, common
        )

    # ------------------------------------------------------------------ sync twins
    def chat_sync(self, *, model: str, messages: Messages, **params: Any) -> ChatResult:
        """`chat` from synchronous code; same arguments. Not for async code, whose loop it
        would block: there, ``await client.chat(...)``."""
        check_blocking(self._wire.loop, "chat_sync", "await client.chat(...)")
        return run_sync(self.chat, model=model, messages=messages, **params)

    def stream_chat_sync(self, *, model: str, messages: Messages, **params: Any) -> SyncChatStream:
        """`stream_chat` from synchronous code: a plain iterator of deltas."""
        check_blocking(self._wire.loop, "stream_chat_sync", "client.stream_chat(...)")
        return SyncChatStream(self.stream_chat(model=model, messages=messages, **params))

    def embed_sync(self, *, model: str, input: EmbeddingInput, **params: Any) -> Embeddings:
        """`embed` from synchronous code; same arguments."""
        check_blocking(self._wire.loop, "embed_sync", "await client.embed(...)")
        return run_sync(self.embed, model=model, input=input, **params)

    def models_sync(self, **params: Any) -> tuple[Model, ...]:
        """`models` from synchronous code; same arguments."""
        check_blocking(self._wire.loop, "models_sync", "await client.models()")
        return run_sync(self.models, **params)

    def chat_many_sync(self, requests: Requests, **options: Any) -> list[Any]:
        """`chat_many` from synchronous code; same arguments."""
        check_blocking(self._wire.loop, "chat_many_sync", "await client.chat_many(...)")
        return run_sync(lambda: self.chat_many(requests, **options))

    def embed_many_sync(self, requests: Requests, **options: Any) -> list[Any]:
        """`embed_many` from synchronous code; same arguments."""
        check_blocking(self._wire.loop, "embed_many_sync", "await client.embed_many(...)")
        return run_sync(lambda: self.embed_many(requests, **options))
