"""Anthropic's Messages API on the simulator: ``POST /v1/messages`` (whole or streamed) and
``POST /v1/messages/count_tokens``, with the latency model, limits and faults every endpoint
has, answered the way Anthropic answers.

A request goes through what an OpenAI-style one does: its body read and checked (400 with
Anthropic's error shape), the context length, its fault (``x-sim-fault`` or drawn), the key's
rate limits (429 ``rate_limit_error`` with ``retry-after``) and capacity (529
``overloaded_error`` when the queue is full: Anthropic's answer to load), then timed delivery.
The key is ``x-api-key`` (or a bearer token); ``anthropic-version`` and ``anthropic-beta`` are
accepted and not required. Every answer carries ``request-id`` and, when limits are set,
``anthropic-ratelimit-*``. ``count_tokens`` answers at once, outside limits and faults.

    endpoint = MessagesEndpoint(parts, ids)
    await endpoint("/v1/messages", scope, receive, send)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .._clock import Reader
from ..openai import encode_json, format_retry_after
from ._anthropic_answer import plan_answer
from ._anthropic_request import MessagesRequest, parse_messages
from ._anthropic_respond import MessagesPlan, MessagesResponder
from ._anthropic_wire import encode_error, rate_limit_headers
from ._body import read_body
from ._capacity import ServerQueue
from ._config import SimConfig
from ._content import Corpus
from ._exchange import Exchange, Receive, Scope, Send
from ._faults import IMMEDIATE_FAULTS, FaultPicker, UnknownFaultError
from ._latency import LatencyModel
from ._limits import KeyRateBuckets, RateDecision, bucket_key
from ._metrics import MetricsRecorder
from ._request_error import RequestError

__all__ = ["MESSAGES_PATHS", "MessagesEndpoint", "SimParts"]

MESSAGES_PATHS = ("/v1/messages", "/v1/messages/count_tokens")
_LOGGER = logging.getLogger("uvicorn.error")
_IMMEDIATE = {
    "400": (400, "simulated bad request"),
    "429": (429, "simulated rate limit: try again later"),
    "500": (500, "Internal server error"),
    "503": (503, "The service is temporarily unavailable."),
    "529": (529, "Overloaded"),
}


@dataclass(frozen=True, slots=True)
class SimParts:
    """What the Messages endpoint shares with the rest of the simulated service."""

    config: SimConfig
    clock: Reader
    metrics: MetricsRecorder
    queue: ServerQueue
    buckets: KeyRateBuckets
    faults: FaultPicker
    latency: LatencyModel
    corpus: Corpus


def _request_headers(scope: Scope) -> tuple[str, bytes | None]:
    """The API key (``x-api-key``, else a bearer token; "" if none) and ``x-sim-fault``."""
    key: bytes | None = None
    bearer = b""
    fault: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            key = value.strip()
        elif name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                bearer = token.strip()
        elif name == b"x-sim-fault":
            fault = value
    return bucket_key(bearer if key is None else key), fault


def _check_context(request: MessagesRequest, limit: int) -> None:
    prompt, wanted = request.input_tokens, request.max_tokens
    if prompt > limit:
        raise RequestError(400, f"prompt is too long: more than {limit} tokens, {limit} maximum")
    if prompt + wanted > limit:
        raise RequestError(
            400,
            f"input length and `max_tokens` exceed context limit: {prompt} + {wanted} > "
            f"{limit}, decrease input length or `max_tokens` and try again",
        )


class MessagesEndpoint:
    """Serves ``MESSAGES_PATHS`` for one `SimApp`; `close` ends its pauses."""

    def __init__(self, parts: SimParts, ids: Iterator[int]) -> None:
        self._parts = parts
        self._ids = ids
        self._responder = MessagesResponder(parts.config, parts.latency, parts.metrics, parts.queue)
        self._exchanges: set[Exchange] = set()
        self._closing = False

    def close(self) -> None:
        """Refuse new work and cut short every pause in progress."""
        self._closing = True
        for exchange in list(self._exchanges):
            exchange.stop()

    async def _reply(
        self,
        send: Send,
        endpoint: str,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self._parts.metrics.response(endpoint, status)
        head = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": head + headers})
        await send({"type": "http.response.body", "body": body})

    async def _error(
        self,
        send: Send,
        endpoint: str,
        error: RequestError,
        request_id: str,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        body = encode_error(error.status, error.message, request_id)
        await self._reply(send, endpoint, error.status, body, headers + error.headers())

    def _limit_headers(self, decision: RateDecision) -> list[tuple[bytes, bytes]]:
        headers = rate_limit_headers(decision, time.time())
        if not decision.allowed:
            headers += format_retry_after(decision.retry_after)
        return headers

    def _peek_headers(self, key: str, request_id: str) -> list[tuple[bytes, bytes]]:
        headers = [(b"request-id", request_id.encode())]
        buckets = self._parts.buckets
        if buckets.enabled:
            headers += self._limit_headers(buckets.peek(key, self._parts.clock()))
        return headers

    async def __call__(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        key, forced = _request_headers(scope)
        number = next(self._ids)
        request_id = f"req_sim{number:x}"
        if scope["method"] != "POST":
            error = RequestError(405, f"{scope['method']} is not allowed here: use POST")
            await self._error(send, path, error, request_id, [(b"request-id", request_id.encode())])
            return
        counting = path.endswith("/count_tokens")
        try:
            request, fault = await self._admit(scope, receive, forced, counting)
        except UnknownFaultError as exc:
            error = RequestError(400, str(exc))
            await self._error(send, path, error, request_id, self._peek_headers(key, request_id))
            return
        except RequestError as exc:
            await self._error(send, path, exc, request_id, self._peek_headers(key, request_id))
            return
        except Exception:  # a defect: answer in the API's shape, and log it for a fix
            _LOGGER.exception("sluice sim: the request could not be handled")
            error = RequestError(500, _IMMEDIATE["500"][1])
            await self._error(send, path, error, request_id, self._peek_headers(key, request_id))
            return
        if request is None:
            return  # the client left before its body arrived
        if counting:
            body = encode_json({"input_tokens": request.input_tokens})
            await self._reply(send, path, 200, body, [(b"request-id", request_id.encode())])
            return
        await self._answer(path, request, fault, key, number, request_id, receive, send)

    async def _admit(
        self, scope: Scope, receive: Receive, forced: bytes | None, counting: bool
    ) -> tuple[MessagesRequest | None, str | None]:
        config = self._parts.config
        raw = await read_body(
            scope, receive, max_bytes=config.max_body_bytes, time_limit=config.body_timeout
        )
        if raw is None:
            return None, None
        request = parse_messages(raw, token_limit=config.context_length, counting=counting)
        if counting:
            return request, None
        _check_context(request, config.context_length)
        return request, self._parts.faults.pick(forced)

    async def _answer(
        self,
        endpoint: str,
        request: MessagesRequest,
        fault: str | None,
        key: str,
        number: int,
        request_id: str,
        receive: Receive,
        send: Send,
    ) -> None:
        parts = self._parts
        if self._closing:
            error = RequestError(503, "the simulator is shutting down")
            headers = self._peek_headers(key, request_id) + format_retry_after(1.0)
            await self._error(send, endpoint, error, request_id, headers)
            return
        if fault is not None:
            parts.metrics.fault(fault)
            if fault in IMMEDIATE_FAULTS:
                status, message = _IMMEDIATE[fault]
                headers = self._peek_headers(key, request_id)
                if status in (429, 503, 529):
                    headers += format_retry_after(parts.config.retry_after)
                await self._error(
                    send, endpoint, RequestError(status, message), request_id, headers
                )
                return
        try:
            answer = plan_answer(
                request,
                parts.corpus,
                output_tokens=parts.config.output_tokens,
                tool_id=f"toolu_sim{number:x}",
                seed=parts.config.seed,
            )
        except RequestError as exc:  # a tool's schema asks for more than can be made
            await self._error(send, endpoint, exc, request_id, self._peek_headers(key, request_id))
            return
        arrival = parts.clock()
        headers = [(b"request-id", request_id.encode())]
        if parts.buckets.enabled:
            cost = request.input_tokens + answer.output_tokens
            decision = parts.buckets.acquire(key, cost, arrival)
            headers += self._limit_headers(decision)
            if not decision.allowed:
                message = (
                    f"rate limit exceeded: this key's {decision.limited_by} per minute are "
                    f"spent; retry in {decision.retry_after:.3f}s"
                )
                await self._error(send, endpoint, RequestError(429, message), request_id, headers)
                return
        if not await parts.queue.enter():
            error = RequestError(529, "Overloaded: the server is at capacity")
            headers += format_retry_after(parts.config.retry_after)
            await self._error(send, endpoint, error, request_id, headers)
            return
        parts.metrics.admitted(parts.clock() - arrival, request.input_tokens)
        plan = MessagesPlan(
            endpoint, request, answer, fault, headers, f"msg_sim{number:x}", request_id
        )
        exchange = Exchange(receive, send, parts.clock)
        self._exchanges.add(exchange)
        exchange.stopped = self._closing
        try:
            await self._responder.serve(exchange, plan)
        finally:
            self._exchanges.discard(exchange)
            parts.queue.leave()
            await exchange.aclose()
