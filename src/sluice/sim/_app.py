"""The simulator as a plain ASGI application (no framework: routing is a few lookups).

A request to an inference endpoint goes through, in order: reading the body (413 when too
large, 408 when too slow), parsing and validation (400), the model's limits (400
``context_length_exceeded``, or an embeddings answer too large), fault selection (immediate
faults answer here), the per-key rate limits (429), capacity (429 or 503 when the queue is
full), and then timed delivery (`Responder`, or `ResponsesResponder` for the Responses API).
Every inference response carries the ``x-ratelimit-*`` headers of the limits in force.
Whatever a client sends, a refusal is a 4xx with an OpenAI-shaped JSON body: 404 for an
unknown path, 405 (with ``Allow``) for a wrong method on a known one.

    app = SimApp(SimConfig(itl=0.02))
    uvicorn.run(app, loop="uvloop", http="httptools")
"""

from __future__ import annotations

import itertools
import logging
import random
import time

from .._clock import Reader
from ..openai import Model, encode_error, encode_model, encode_models, format_retry_after
from ._answer import Answer, build_answer
from ._anthropic import MESSAGES_PATHS, MessagesEndpoint, SimParts
from ._body import read_body
from ._capacity import ServerQueue
from ._checks import check_request
from ._config import SimConfig
from ._content import Corpus
from ._exchange import Exchange, Receive, Scope, Send, SimulatedReset
from ._faults import IMMEDIATE_FAULTS, FaultPicker, UnknownFaultError
from ._latency import LatencyModel
from ._limits import KeyRateBuckets, bucket_key
from ._metrics import MetricsRecorder, SimMetrics
from ._protocol import Inference, parse_request
from ._request_error import RequestError
from ._respond import Plan, Responder
from ._responses import ResponsesResponder
from ._responses_request import parse_responses

__all__ = ["SimApp"]

_LOGGER = logging.getLogger("uvicorn.error")
# Rate-limit state is kept per API key: a longer key is kept as its digest, so that clients
# sending long keys cannot make the table large.
_HEALTH = ("/healthz", "/health")  # /health: the name vLLM serves, which load tools probe
_GET_PATHS = (*_HEALTH, "/metrics", "/v1/models")
_SHOWN_PATH = 200
_INFERENCE = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completion",
    "/v1/embeddings": "embedding",
    "/v1/responses": "response",
}
_ID_PREFIX = {"chat": "chatcmpl-", "completion": "cmpl-", "response": "resp_"}
# (status, message, type, code) of the faults answered before any work is done.
_IMMEDIATE = {
    "400": (400, "simulated bad request", "invalid_request_error", "sim_fault"),
    "429": (429, "simulated rate limit: try again later", "requests", "rate_limit_exceeded"),
    "500": (500, "The server had an error while processing your request.", "server_error", None),
    "503": (503, "The service is temporarily unavailable.", "server_error", "service_unavailable"),
    "529": (529, "The service is overloaded.", "overloaded_error", "overloaded"),
}


class _HideSimulatedResets(logging.Filter):
    """Drop the server's error log for a connection the simulator dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedReset))


def _install_log_filter() -> None:
    if not any(isinstance(f, _HideSimulatedResets) for f in _LOGGER.filters):
        _LOGGER.addFilter(_HideSimulatedResets())


def _request_headers(scope: Scope) -> tuple[str, bytes | None]:
    """The API key (bearer token, "" if none) and the raw ``x-sim-fault`` value."""
    key = ""
    fault: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                key = bucket_key(token.strip())
        elif name == b"x-sim-fault":
            fault = value
    return key, fault


class SimApp:
    """ASGI application simulating an OpenAI-compatible service; see `SimConfig`.

    `SimServer` and ``sluice sim`` serve it; any ASGI server can::

        app = SimApp(SimConfig(ttft=0.1, itl=0.02))
        uvicorn.run(app, http="httptools", lifespan="on")   # lifespan shutdown calls close()
        app.snapshot().lateness_p99
    """

    def __init__(self, config: SimConfig, clock: Reader = time.monotonic) -> None:
        # The schedule runs on a precise clock: uvloop's loop.time() only moves in whole
        # milliseconds, too coarse to measure the simulator's own lateness.
        self.config = config
        self._clock = clock
        self.metrics = MetricsRecorder()
        self.queue = ServerQueue(config.max_concurrency, config.max_queue)
        self.buckets = KeyRateBuckets(config.rpm, config.tpm, burst=config.burst)
        self.faults = FaultPicker(config.fault_probabilities(), config.seed)
        self.latency = LatencyModel(config, random.Random(f"latency:{config.seed}"))
        self.corpus = Corpus(config.seed)
        self.responder = Responder(config, self.latency, self.corpus, self.metrics, self.queue)
        self.responses = ResponsesResponder(
            config, self.latency, self.corpus, self.metrics, self.queue
        )
        self._exchanges: set[Exchange] = set()
        self._closing = False
        self._ids = itertools.count(1)
        self._created = int(time.time())
        self._models = {
            name: Model(name, owned_by="sluice-sim", created=self._created)
            for name in config.models
        }
        self._models_body = encode_models(self._models.values())
        parts = SimParts(
            config,
            clock,
            self.metrics,
            self.queue,
            self.buckets,
            self.faults,
            self.latency,
            self.corpus,
        )
        self.messages = MessagesEndpoint(parts, self._ids)  # Anthropic's Messages API
        _install_log_filter()

    def snapshot(self) -> SimMetrics:
        """The current metrics."""
        queue = self.queue
        return self.metrics.snapshot(queue.active, queue.queued, queue.peak_active)

    def close(self) -> None:
        """Refuse new work and cut short every pause, hang and stall in progress."""
        self._closing = True
        for exchange in list(self._exchanges):
            exchange.stop()
        self.messages.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if not path.startswith("/v1/") and path not in (*_HEALTH, "/metrics"):
            path = "/v1" + path  # clients given a base URL without /v1
        if path in MESSAGES_PATHS:
            await self.messages(path, scope, receive, send)
            return
        kind = _INFERENCE.get(path)
        if kind is not None:
            if scope["method"] != "POST":
                await self._error(send, path, RequestError(405, "use POST"), [(b"allow", b"POST")])
            else:
                await self._inference(kind, path, scope, receive, send)
            return
        model = path[11:] if path.startswith("/v1/models/") else None
        if path not in _GET_PATHS and model not in self._models:
            # Unknown paths share one metrics label: a client must not be able to grow the
            # metrics without bound.
            shown = scope["path"][:_SHOWN_PATH]  # as long as the headers may be: cut short
            error = RequestError(404, f"unknown path {shown!r}", code="not_found")
            await self._error(send, "other", error, [])
        elif scope["method"] not in ("GET", "HEAD"):
            endpoint = path if model is None else "/v1/models/{id}"
            error = RequestError(405, "use GET")
            await self._error(send, endpoint, error, [(b"allow", b"GET, HEAD")])
        elif path in _HEALTH:
            await self._reply(send, None, 200, b'{"status":"ok"}')
        elif path == "/metrics":
            queue = self.queue
            text = self.metrics.render(queue.active, queue.queued, queue.peak_active)
            await self._reply(send, None, 200, text, b"text/plain; version=0.0.4")
        elif model is None:
            await self._reply(send, path, 200, self._models_body)
        else:
            body = encode_model(self._models[model])
            await self._reply(send, "/v1/models/{id}", 200, body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _reply(
        self,
        send: Send,
        endpoint: str | None,
        status: int,
        body: bytes,
        content_type: bytes = b"application/json",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        if endpoint is not None:  # probes (health, metrics) are not traffic
            self.metrics.response(endpoint, status)
        head = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        if headers:
            head += headers
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})

    async def _error(
        self, send: Send, endpoint: str, error: RequestError, headers: list[tuple[bytes, bytes]]
    ) -> None:
        headers = headers + error.headers()
        await self._reply(send, endpoint, error.status, error.body(), headers=headers)

    def _peek_headers(self, key: str, request_id: bytes) -> list[tuple[bytes, bytes]]:
        """Headers for a response that takes nothing from the rate limits."""
        headers = [(b"x-request-id", request_id)]
        if self.buckets.enabled:
            headers += self.buckets.peek(key, self._clock()).headers()
        return headers

    async def _inference(
        self, kind: str, endpoint: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        key, forced = _request_headers(scope)
        number = next(self._ids)
        request_id = b"req_sim%x" % number
        try:
            inference, fault, answer = await self._admit(kind, scope, receive, forced)
        except UnknownFaultError as exc:
            error = RequestError(400, str(exc), param="x-sim-fault")
            await self._error(send, endpoint, error, self._peek_headers(key, request_id))
            return
        except RequestError as exc:
            await self._error(send, endpoint, exc, self._peek_headers(key, request_id))
            return
        except Exception:  # a defect: answer in the API's shape, and log it for a fix
            _LOGGER.exception("sluice sim: the request could not be handled")
            error = RequestError(500, _IMMEDIATE["500"][1], "server_error")
            await self._error(send, endpoint, error, self._peek_headers(key, request_id))
            return
        if inference is None:
            return  # the client left before its body arrived
        if self._closing:
            error = RequestError(503, "the simulator is shutting down", "server_error")
            headers = self._peek_headers(key, request_id)
            await self._error(send, endpoint, error, headers + format_retry_after(1.0))
            return
        if fault is not None:
            self.metrics.fault(fault)
            if fault in IMMEDIATE_FAULTS:
                await self._immediate_fault(send, endpoint, fault, key, request_id)
                return
        tokens, finish = self._completion_size(inference, fault, answer)
        arrival = self._clock()
        headers = [(b"x-request-id", request_id)]
        if self.buckets.enabled:
            decision = self.buckets.acquire(key, inference.prompt_tokens + tokens, arrival)
            headers += decision.headers()
            if not decision.allowed:
                limit = decision.limited_by
                message = (
                    f"Rate limit reached for {limit} per min; retry in {decision.retry_after:.3f}s"
                )
                error = RequestError(429, message, limit, None, "rate_limit_exceeded")
                await self._error(send, endpoint, error, headers)
                return
        if not await self.queue.enter():
            error = RequestError(
                self.config.overflow_status,
                "The server is at capacity; try again later.",
                "server_error",
                None,
                "capacity_exceeded",
            )
            headers += format_retry_after(self.config.retry_after)
            await self._error(send, endpoint, error, headers)
            return
        self.metrics.admitted(self._clock() - arrival, inference.prompt_tokens)
        offset = 0  # where the corpus text starts: tool calls, JSON or a refusal take none
        if answer is None:
            offset = self.corpus.offset(inference.model, inference.prompt_key)
        plan = Plan(
            endpoint=endpoint,
            inference=inference,
            fault=fault,
            headers=headers,
            id=f"{_ID_PREFIX.get(kind, 'cmpl-')}sim{number:x}",
            created=int(time.time()),
            offset=offset,
            tokens=tokens,
            finish_reason=finish,
            answer=answer,
        )
        exchange = Exchange(receive, send, self._clock)
        self._exchanges.add(exchange)
        # Admitted from the queue after close(): it ends at its first pause.
        exchange.stopped = self._closing
        try:
            if kind == "response":
                await self.responses.serve(exchange, plan)
            else:
                await self.responder.serve(exchange, plan)
        finally:
            self._exchanges.discard(exchange)
            self.queue.leave()
            await exchange.aclose()

    async def _admit(
        self, kind: str, scope: Scope, receive: Receive, forced: bytes | None
    ) -> tuple[Inference | None, str | None, Answer | None]:
        """The request, read, parsed and checked, its fault (``forced``: the raw
        ``x-sim-fault`` header) and its answer when that is not corpus text; all None if the
        client left first."""
        config = self.config
        raw = await read_body(
            scope, receive, max_bytes=config.max_body_bytes, time_limit=config.body_timeout
        )
        if raw is None:
            return None, None, None
        if kind == "response":
            inference: Inference = parse_responses(raw, config)
        else:
            inference = parse_request(kind, raw, token_limit=config.context_length)
        check_request(inference, config)
        fault = self.faults.pick(forced)
        answer = build_answer(inference, config.seed, fault, lambda: self._filler(inference))
        return inference, fault, answer

    def _filler(self, inference: Inference) -> str:
        corpus = self.corpus
        return corpus.text(
            corpus.offset(inference.model, inference.prompt_key), self.config.output_tokens
        )

    async def _immediate_fault(
        self, send: Send, endpoint: str, fault: str, key: str, request_id: bytes
    ) -> None:
        status, message, type_, code = _IMMEDIATE[fault]
        headers = self._peek_headers(key, request_id)
        if status in (429, 503, 529):
            headers += format_retry_after(self.config.retry_after)
        body = encode_error(message, type_, code=code)
        await self._reply(send, endpoint, status, body, headers=headers)

    def _completion_size(
        self, inference: Inference, fault: str | None, answer: Answer | None
    ) -> tuple[int, str]:
        """Tokens the answer will have, and its finish reason (``length`` when ``max_tokens``
        or the ``length`` fault cuts it: the fault keeps half)."""
        if inference.kind == "embedding":
            return 0, "stop"
        natural = self.config.output_tokens if answer is None else answer.tokens
        finish = "stop" if answer is None else answer.finish_reason
        if fault == "length":
            natural, finish = max(1, natural // 2), "length"
        cap = inference.max_tokens
        if cap is not None and cap < natural:
            return cap, "length"
        return natural, finish
