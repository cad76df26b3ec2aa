"""The simulator as a plain ASGI application (no framework: routing is one dict lookup).

A request to an inference endpoint goes through, in order: body parsing and validation (400),
the context-length check (400 ``context_length_exceeded``), fault selection (immediate faults
answer here), the per-key rate limits (429), capacity (429 or 503 when the queue is full), and
then timed delivery (`Responder`). Every inference response carries the ``x-ratelimit-*``
headers of the limits in force.

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
from ._capacity import ServerQueue
from ._config import SimConfig
from ._content import Corpus
from ._exchange import Exchange, Receive, Scope, Send, SimulatedReset
from ._faults import IMMEDIATE_FAULTS, FaultPicker, UnknownFaultError
from ._latency import LatencyModel
from ._limits import KeyRateBuckets
from ._metrics import MetricsRecorder, SimMetrics
from ._protocol import Inference, RequestError, parse_request
from ._respond import Plan, Responder

__all__ = ["SimApp"]

_MAX_BODY = 16 * 1024 * 1024
_INFERENCE = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completion",
    "/v1/embeddings": "embedding",
}
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
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideSimulatedResets) for f in logger.filters):
        logger.addFilter(_HideSimulatedResets())


def _request_headers(scope: Scope) -> tuple[str, bytes | None]:
    """The API key (bearer token, "" if none) and the raw ``x-sim-fault`` value."""
    key = ""
    fault: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                key = token.strip().decode("latin-1")
        elif name == b"x-sim-fault":
            fault = value
    return key, fault


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client left first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False) and not chunks:
            return body
        chunks.append(body)
        size += len(body)
        if size > _MAX_BODY:
            raise RequestError(413, f"request body larger than {_MAX_BODY} bytes")
        if not message.get("more_body", False):
            return b"".join(chunks)


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
        self.buckets = KeyRateBuckets(config.rpm, config.tpm)
        self.faults = FaultPicker(config.fault_probabilities(), config.seed)
        self.latency = LatencyModel(config, random.Random(f"latency:{config.seed}"))
        self.corpus = Corpus(config.seed)
        self.responder = Responder(config, self.latency, self.corpus, self.metrics, self.queue)
        self._exchanges: set[Exchange] = set()
        self._closing = False
        self._ids = itertools.count(1)
        self._created = int(time.time())
        self._models = {
            name: Model(name, owned_by="sluice-sim", created=self._created)
            for name in config.models
        }
        self._models_body = encode_models(self._models.values())
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if not path.startswith("/v1/") and path not in ("/healthz", "/metrics"):
            path = "/v1" + path  # clients given a base URL without /v1
        kind = _INFERENCE.get(path)
        if kind is not None:
            if scope["method"] != "POST":
                await self._error(send, path, RequestError(405, "use POST"), [])
            else:
                await self._inference(kind, path, scope, receive, send)
        elif scope["method"] not in ("GET", "HEAD"):
            await self._error(send, path, RequestError(405, "use GET"), [])
        elif path == "/healthz":
            await self._reply(send, None, 200, b'{"status":"ok"}')
        elif path == "/metrics":
            queue = self.queue
            text = self.metrics.render(queue.active, queue.queued, queue.peak_active)
            await self._reply(send, None, 200, text, b"text/plain; version=0.0.4")
        elif path == "/v1/models":
            await self._reply(send, path, 200, self._models_body)
        elif path.startswith("/v1/models/") and path[11:] in self._models:
            body = encode_model(self._models[path[11:]])
            await self._reply(send, "/v1/models/{id}", 200, body)
        else:
            error = RequestError(404, f"unknown path {scope['path']!r}", code="not_found")
            await self._error(send, "other", error, [])

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
            raw = await _read_body(receive)
            if raw is None:
                return
            inference = parse_request(kind, raw)
            self._check_context(inference)
            fault = self.faults.pick(forced)
        except UnknownFaultError as exc:
            error = RequestError(400, str(exc), param="x-sim-fault")
            await self._error(send, endpoint, error, self._peek_headers(key, request_id))
            return
        except RequestError as exc:
            await self._error(send, endpoint, exc, self._peek_headers(key, request_id))
            return
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
        tokens, finish = self._completion_size(inference)
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
        metrics = self.metrics
        metrics.queue_wait_sum += self._clock() - arrival
        metrics.queue_wait_count += 1
        metrics.prompt_tokens += inference.prompt_tokens
        plan = Plan(
            endpoint=endpoint,
            inference=inference,
            fault=fault,
            headers=headers,
            id=f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-sim{number:x}",
            created=int(time.time()),
            offset=self.corpus.offset(inference.model, inference.prompt_key),
            tokens=tokens,
            finish_reason=finish,
        )
        exchange = Exchange(receive, send, self._clock)
        self._exchanges.add(exchange)
        # Admitted from the queue after close(): it ends at its first pause.
        exchange.stopped = self._closing
        try:
            await self.responder.serve(exchange, plan)
        finally:
            self._exchanges.discard(exchange)
            self.queue.leave()
            await exchange.aclose()

    async def _immediate_fault(
        self, send: Send, endpoint: str, fault: str, key: str, request_id: bytes
    ) -> None:
        status, message, type_, code = _IMMEDIATE[fault]
        headers = self._peek_headers(key, request_id)
        if status in (429, 503, 529):
            headers += format_retry_after(self.config.retry_after)
        body = encode_error(message, type_, code=code)
        await self._reply(send, endpoint, status, body, headers=headers)

    def _completion_size(self, inference: Inference) -> tuple[int, str]:
        """Tokens the answer will have, and its finish reason."""
        if inference.kind == "embedding":
            return 0, "stop"
        natural = self.config.output_tokens
        cap = inference.max_tokens
        if cap is not None and cap < natural:
            return cap, "length"
        return natural, "stop"

    def _check_context(self, inference: Inference) -> None:
        limit = self.config.context_length
        if inference.kind == "embedding":
            longest = max(tokens for _, tokens in inference.inputs)
            if longest > limit:
                raise RequestError(
                    400,
                    f"This model's maximum context length is {limit} tokens, however you "
                    f"requested {longest} tokens in an input. Please reduce your input.",
                    param="input",
                    code="context_length_exceeded",
                )
            return
        requested = inference.prompt_tokens + (inference.max_tokens or 0)
        if requested > limit:
            raise RequestError(
                400,
                f"This model's maximum context length is {limit} tokens. However, you "
                f"requested {requested} tokens ({inference.prompt_tokens} in the messages, "
                f"{inference.max_tokens or 0} in the completion). Please reduce the length "
                "of the messages or completion.",
                param="messages",
                code="context_length_exceeded",
            )
