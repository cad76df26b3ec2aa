"""Timed delivery of an admitted Messages API request: a whole ``message`` or its stream of
events, on the same latency model as every answer, with the same mid-response faults.

A stream opens with ``message_start``, then for each block ``content_block_start`` (the first
followed by a ``ping``), its deltas and ``content_block_stop``, and ends with
``message_delta`` (stop reason, output tokens) and ``message_stop``. The first delta leaves at
the time to first token, each later piece one inter-token gap after the previous one.

    responder = MessagesResponder(config, latency, metrics, queue)
    await responder.serve(exchange, plan)
"""

from __future__ import annotations

from dataclasses import dataclass

from ._anthropic_answer import Answer, Block
from ._anthropic_request import MessagesRequest
from ._anthropic_wire import MessageEvents, encode_error, encode_message
from ._capacity import ServerQueue
from ._config import SimConfig
from ._delivery import (
    GO,
    MID_STREAM,
    STOPPED,
    STREAM_HEADERS,
    first_token,
    mid_stream_fault,
    send_whole,
    stop_exchange,
)
from ._exchange import Exchange
from ._latency import LatencyModel, TokenSchedule
from ._metrics import MetricsRecorder

__all__ = ["MessagesPlan", "MessagesResponder"]

# An event cut off inside its data (the malformed fault): not valid JSON.
_MALFORMED = b'event: content_block_delta\ndata: {"type":"content_block_delta","ind\n\n'


@dataclass(slots=True)
class MessagesPlan:
    """What an admitted request will get: its answer, its fault, its extra headers."""

    endpoint: str
    request: MessagesRequest
    answer: Answer
    fault: str | None
    headers: list[tuple[bytes, bytes]]
    id: str
    request_id: str


def _chunks(
    blocks: list[Block], events: MessageEvents, per_chunk: int, cut: int
) -> dict[int, bytes]:
    """The events of each chunk, keyed by the index of the last piece it carries. A chunk is
    at most ``per_chunk`` pieces of one block, and ends where the fault strikes (``cut``)."""
    chunks: dict[int, bytes] = {}
    position = 0
    for index, block in enumerate(blocks):
        pending: list[str] = []
        opening = events.block_start(index, block.opening) + (events.ping() if index == 0 else b"")
        last = len(block.pieces) - 1
        for i, piece in enumerate(block.pieces):
            pending.append(piece)
            position += 1
            if len(pending) < per_chunk and i != last and position != cut:
                continue
            text = "".join(pending)
            pending = []
            if not text and block.json:
                delta = b""  # only a call's head: its block opens, no input yet
            elif block.json:
                delta = events.json_delta(index, text)
            else:
                delta = events.text_delta(index, text)
            chunks[position - 1] = (
                opening + delta + (events.block_stop(index) if i == last else b"")
            )
            opening = b""
    return chunks


class MessagesResponder:
    """Delivers planned Messages API answers on schedule; shared by all requests of one app."""

    __slots__ = ("_config", "_latency", "_metrics", "_queue")

    def __init__(
        self, config: SimConfig, latency: LatencyModel, metrics: MetricsRecorder, queue: ServerQueue
    ) -> None:
        self._config = config
        self._latency = latency
        self._metrics = metrics
        self._queue = queue

    async def serve(self, exchange: Exchange, plan: MessagesPlan) -> None:
        max_hang, tokens = self._config.max_hang, plan.request.input_tokens
        schedule = await first_token(
            exchange, plan.fault, max_hang, self._latency, self._queue, tokens
        )
        if schedule is None:
            await self._stopped(exchange, plan)
        elif plan.request.stream:
            await self._stream(exchange, plan, schedule)
        else:
            await self._whole(exchange, plan, schedule.deadline)

    async def _stopped(self, exchange: Exchange, plan: MessagesPlan) -> None:
        """End an exchange whose pause was cut short: nothing if the client left."""
        body = encode_error(503, "the simulator is shutting down", plan.request_id)
        await stop_exchange(exchange, self._metrics, plan.endpoint, plan.headers, body)

    async def _whole(self, exchange: Exchange, plan: MessagesPlan, first_token: float) -> None:
        answer = plan.answer
        deadline = first_token + self._latency.decode_time(
            answer.output_tokens, self._queue.active, slow=plan.fault == "slow"
        )
        if not await exchange.pause_until(deadline):
            await self._stopped(exchange, plan)
            return
        metrics = self._metrics
        metrics.lateness(exchange.now() - deadline)
        metrics.completion_tokens += answer.output_tokens
        body = encode_message(
            plan.id,
            plan.request.model,
            [block.whole for block in answer.blocks],
            stop_reason=answer.stop_reason,
            stop_sequence=answer.stop_sequence,
            input_tokens=plan.request.input_tokens,
            output_tokens=answer.output_tokens,
        )
        max_hang = self._config.max_hang
        await send_whole(exchange, metrics, plan.endpoint, body, plan.headers, plan.fault, max_hang)

    async def _stream(
        self, exchange: Exchange, plan: MessagesPlan, schedule: TokenSchedule
    ) -> None:
        answer, fault = plan.answer, plan.fault
        total = answer.pieces
        fault_at = (total + 1) // 2 if fault in MID_STREAM and total else 0
        events = MessageEvents(plan.id, plan.request.model)
        chunks = _chunks(answer.blocks, events, self._config.tokens_per_chunk, fault_at)
        latency, queue, metrics = self._latency, self._queue, self._metrics
        slow = fault == "slow"
        emitted = 0
        try:
            for i in range(max(total, 1)):
                if i:
                    schedule.advance(latency.inter_token(queue.active, slow=slow))
                data = chunks.get(i)
                if data is None and total:
                    continue
                if not await exchange.pause_until(schedule.deadline):
                    await self._stopped(exchange, plan)
                    return
                metrics.lateness(exchange.now() - schedule.deadline)
                if not exchange.started:
                    metrics.response(plan.endpoint, 200)
                    await exchange.start(200, [*STREAM_HEADERS, *plan.headers])
                    data = events.start(plan.request.input_tokens) + (data or b"")
                await exchange.body(data or b"", more=True)
                emitted = i + 1 if total else 0
                if emitted and emitted == fault_at:
                    max_hang = self._config.max_hang
                    struck = await mid_stream_fault(exchange, fault, _MALFORMED, schedule, max_hang)
                    if struck != GO:
                        if struck == STOPPED:
                            await self._stopped(exchange, plan)
                        return
            finish = events.finish(answer.stop_reason, answer.stop_sequence, answer.output_tokens)
            await exchange.body(finish)
        finally:
            # Whole: the answer's own count (a cut before a stop sequence may leave a piece
            # that is only whitespace); cut short: the pieces sent.
            metrics.completion_tokens += answer.output_tokens if emitted == total else emitted
