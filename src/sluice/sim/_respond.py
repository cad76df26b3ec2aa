"""Timed delivery of an admitted request: whole bodies or SSE streams, with mid-response faults.

Every emission waits for its scheduled instant (`TokenSchedule`), and records how late it
actually went out. Faults that strike mid-response do so after half the tokens.

    responder = Responder(config, latency, corpus, metrics, queue)
    await responder.serve(exchange, plan)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..openai import (
    DONE_EVENT,
    ChunkEncoder,
    ToolCall,
    completion_object,
    embeddings_object,
    encode_error,
)
from ._answer import Answer
from ._capacity import ServerQueue
from ._config import SimConfig
from ._content import Corpus, embedding
from ._delivery import (
    GO,
    JSON_HEADER,
    MID_STREAM,
    STOPPED,
    STREAM_HEADERS,
    first_token,
    mid_stream_fault,
    send_whole,
    stop_exchange,
)
from ._exchange import Exchange
from ._json import dumps
from ._latency import LatencyModel, TokenSchedule
from ._metrics import MetricsRecorder
from ._protocol import Inference

__all__ = ["FINGERPRINT", "JSON_HEADER", "Plan", "Responder", "malformed_event"]

FINGERPRINT = "fp_sim"


@dataclass(slots=True)
class Plan:
    """What an admitted request will get: its answer's size, its fault, its extra headers."""

    endpoint: str
    inference: Inference
    fault: str | None
    headers: list[tuple[bytes, bytes]]
    id: str
    created: int
    offset: int  # where the corpus text starts (0 when the answer is not corpus text)
    tokens: int
    finish_reason: str
    answer: Answer | None = None  # tool calls, JSON or a refusal; None: corpus text


class Responder:
    """Delivers planned answers on schedule; shared by all requests of one app."""

    __slots__ = ("_config", "_corpus", "_latency", "_metrics", "_queue")

    def __init__(
        self,
        config: SimConfig,
        latency: LatencyModel,
        corpus: Corpus,
        metrics: MetricsRecorder,
        queue: ServerQueue,
    ) -> None:
        self._config = config
        self._latency = latency
        self._corpus = corpus
        self._metrics = metrics
        self._queue = queue

    async def serve(self, exchange: Exchange, plan: Plan) -> None:
        max_hang, tokens = self._config.max_hang, plan.inference.prompt_tokens
        schedule = await first_token(
            exchange, plan.fault, max_hang, self._latency, self._queue, tokens
        )
        if schedule is None:
            await self._stopped(exchange, plan)
        elif plan.inference.stream:
            await self._stream(exchange, plan, schedule)
        else:
            await self._whole(exchange, plan, schedule.deadline)

    async def _stopped(self, exchange: Exchange, plan: Plan) -> None:
        """End an exchange whose pause was cut short: nothing if the client left."""
        body = encode_error("the simulator is shutting down", "server_error", code="shutdown")
        await stop_exchange(exchange, self._metrics, plan.endpoint, plan.headers, body)

    def _body(self, plan: Plan) -> bytes:
        inference = plan.inference
        config = self._config
        if inference.kind == "embedding":
            dimensions = inference.dimensions or config.embedding_dim
            vectors = [
                embedding(config.seed, inference.model, key, dimensions)
                for key, _ in inference.inputs
            ]
            return dumps(
                embeddings_object(
                    inference.model,
                    vectors,
                    prompt_tokens=inference.prompt_tokens,
                    encoding_format="base64" if inference.base64 else "float",
                )
            )
        if plan.answer is None:
            text: str | None = self._corpus.text(plan.offset, plan.tokens)
            refusal: str | None = None
            calls: tuple[ToolCall, ...] = ()
        else:
            text, refusal, calls = plan.answer.message(plan.tokens)
        return dumps(
            completion_object(
                inference.kind,
                id=plan.id,
                created=plan.created,
                model=inference.model,
                text=text,
                finish_reason=plan.finish_reason,
                prompt_tokens=inference.prompt_tokens,
                completion_tokens=plan.tokens,
                system_fingerprint=FINGERPRINT,
                tool_calls=calls,
                refusal=refusal,
            )
        )

    async def _whole(self, exchange: Exchange, plan: Plan, first_token: float) -> None:
        deadline = first_token + self._latency.decode_time(
            plan.tokens, self._queue.active, slow=plan.fault == "slow"
        )
        if not await exchange.pause_until(deadline):
            await self._stopped(exchange, plan)
            return
        metrics = self._metrics
        metrics.lateness(exchange.now() - deadline)
        metrics.completion_tokens += plan.tokens
        body = self._body(plan)
        max_hang = self._config.max_hang
        await send_whole(exchange, metrics, plan.endpoint, body, plan.headers, plan.fault, max_hang)

    async def _stream(self, exchange: Exchange, plan: Plan, schedule: TokenSchedule) -> None:
        inference = plan.inference
        templates = ChunkEncoder(
            inference.kind,
            plan.id,
            plan.created,
            inference.model,
            system_fingerprint=FINGERPRINT,
        )
        corpus, latency, queue = self._corpus, self._latency, self._queue
        metrics = self._metrics
        fault = plan.fault
        fault_at = (plan.tokens + 1) // 2 if fault in MID_STREAM else 0
        slow = fault == "slow"
        continuous = inference.continuous_usage
        per_chunk, max_hang = self._config.tokens_per_chunk, self._config.max_hang
        last = plan.tokens - 1
        pending: list[bytes] = []
        emitted = 0
        answer = plan.answer
        if answer is None:
            pieces = [
                corpus.json_piece(index, i == 0)
                for i, index in enumerate(corpus.indices(plan.offset, plan.tokens))
            ]
        else:
            pieces = answer.json_pieces(plan.tokens)
        try:
            for i, piece in enumerate(pieces):
                if i:
                    schedule.advance(latency.inter_token(queue.active, slow=slow))
                pending.append(piece)
                # A chunk goes out when it is full, at the end, where a fault strikes, or
                # where an answer moves to another part (the next tool call, say).
                if (
                    len(pending) < per_chunk
                    and i != last
                    and i + 1 != fault_at
                    and (answer is None or not answer.ends_group(i))
                ):
                    continue
                if not await exchange.pause_until(schedule.deadline):
                    await self._stopped(exchange, plan)
                    return
                metrics.lateness(exchange.now() - schedule.deadline)
                if answer is None:
                    data = templates.content(pending)
                else:
                    data = answer.event(templates, i + 1 - len(pending), pending)
                pending = []
                if continuous:
                    data = templates.with_usage(data, inference.prompt_tokens, i + 1)
                if not exchange.started:
                    metrics.response(plan.endpoint, 200)
                    await exchange.start(200, [*STREAM_HEADERS, *plan.headers])
                    opening = templates.opening()
                    if continuous and opening:
                        opening = templates.with_usage(opening, inference.prompt_tokens, 0)
                    data = opening + data
                await exchange.body(data, more=True)
                emitted = i + 1
                if emitted == fault_at:
                    bad = malformed_event(templates)
                    struck = await mid_stream_fault(exchange, fault, bad, schedule, max_hang)
                    if struck != GO:
                        if struck == STOPPED:
                            await self._stopped(exchange, plan)
                        return
            tail = templates.finish(plan.finish_reason)
            if continuous:
                tail = templates.with_usage(tail, inference.prompt_tokens, emitted)
            if inference.include_usage:
                tail += templates.usage(inference.prompt_tokens, emitted)
            await exchange.body(tail + DONE_EVENT)
        finally:
            metrics.completion_tokens += emitted


def malformed_event(chunks: ChunkEncoder) -> bytes:
    """An event whose data is cut off mid-object (the ``malformed`` fault): not valid JSON."""
    event = chunks.content([b'"x"'])
    return event[: len(event) // 2] + b"\n\n"
