"""Timed delivery of Responses API answers: whole response objects, or the event stream.

The same latency model, limits and faults as chat (`Responder`): the first output token at
TTFT, the others every inter-token gap on an absolute schedule, mid-response faults after half
the tokens. A stream opens at once with ``response.created`` and ``response.in_progress``;
each output item then comes as ``response.output_item.added`` (and, for a message,
``response.content_part.added``), its deltas (``response.output_text.delta`` or
``response.function_call_arguments.delta``, one per ``tokens_per_chunk`` tokens), its done
events, and the stream ends with ``response.completed`` (or ``response.incomplete`` when
``max_output_tokens`` cut it), carrying the whole response and its usage.

    responder = ResponsesResponder(config, latency, corpus, metrics, queue)
    await responder.serve(exchange, plan)      # plan.inference is a ResponsesInference
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..openai import (
    ResponseEventEncoder,
    encode_error,
    encode_json,
    function_call_item,
    message_item,
    refusal_item,
    response_object,
    response_usage,
)
from ._capacity import ServerQueue
from ._config import SimConfig
from ._content import Corpus
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
from ._json import dumps
from ._latency import LatencyModel, TokenSchedule
from ._metrics import MetricsRecorder
from ._respond import Plan
from ._responses_request import ResponsesInference

__all__ = ["ResponsesResponder", "answer_output"]


@dataclass(slots=True)
class _Item:
    """One output item of the answer, one token per text: a message (its content part an
    ``output_text`` or a ``refusal``) or a function call (its first text, standing for the
    call's id and name, empty)."""

    kind: str
    id: str
    texts: list[str]
    quoted: list[bytes] | None = None  # the texts as JSON string literals, when known
    name: str = ""
    call_id: str = ""
    part: str = "output_text"

    @property
    def pieces(self) -> list[bytes]:
        """The texts as JSON string literals (made when a stream first needs them; the
        empty head of a call: empty)."""
        if self.quoted is None:
            self.quoted = [_quote(text) if text else b"" for text in self.texts]
        return self.quoted

    def body(self, status: str, tokens: int | None = None) -> dict[str, Any]:
        """The item as sent, with its first ``tokens`` tokens (all by default)."""
        text = "".join(self.texts[:tokens])
        if self.kind == "function_call":
            return function_call_item(self.id, self.call_id, self.name, text, status)
        if self.part == "refusal":
            return refusal_item(self.id, text, status)
        return message_item(self.id, text, status)


_QUOTED: dict[str, bytes] = {}  # JSON and argument pieces repeat: braces, quotes, names
_QUOTED_MAX = 4096


def _quote(text: str) -> bytes:
    quoted = _QUOTED.get(text)
    if quoted is None:
        if len(_QUOTED) >= _QUOTED_MAX:
            _QUOTED.clear()
        quoted = _QUOTED[text] = encode_json(text)
    return quoted


def answer_output(inference: ResponsesInference, plan: Plan, corpus: Corpus) -> list[_Item]:
    """The output items of ``plan``, cut to its ``tokens`` (the ``max_output_tokens`` cap
    or the ``length`` fault)."""
    suffix = plan.id.partition("_")[2]
    answer = plan.answer
    if answer is None:  # corpus text
        quoted = None
        if inference.stream:  # the corpus keeps its pieces quoted: cheaper than quoting them
            indices = corpus.indices(plan.offset, plan.tokens)
            quoted = [corpus.json_piece(index, i == 0) for i, index in enumerate(indices)]
        return [_Item("message", f"msg_{suffix}", corpus.pieces(plan.offset, plan.tokens), quoted)]
    items: list[_Item] = []
    if not inference.stream and plan.tokens >= answer.tokens:  # whole: no need of tokens
        content, refusal, calls = answer.message(plan.tokens)
        for number, made in enumerate(calls):
            item_id, call_id = f"fc_{suffix}_{number}", f"call_{suffix}_{number}"
            items.append(
                _Item("function_call", item_id, [made.arguments], None, made.name, call_id)
            )
        if refusal is not None:
            items.append(_Item("message", f"msg_{suffix}", [refusal], part="refusal"))
        elif content is not None:
            items.append(_Item("message", f"msg_{suffix}", [content]))
        return items
    for number, (kind, call, texts) in enumerate(answer.runs(plan.tokens)):
        if call is not None:
            item_id, call_id = f"fc_{suffix}_{number}", f"call_{suffix}_{number}"
            items.append(_Item("function_call", item_id, texts, None, call.name, call_id))
        else:
            part = "refusal" if kind == "refusal" else "output_text"
            items.append(_Item("message", f"msg_{suffix}", texts, part=part))
    return items


class ResponsesResponder:
    """Delivers planned Responses answers on schedule; shared by all requests of one app."""

    __slots__ = ("config", "corpus", "latency", "metrics", "queue")

    def __init__(
        self,
        config: SimConfig,
        latency: LatencyModel,
        corpus: Corpus,
        metrics: MetricsRecorder,
        queue: ServerQueue,
    ) -> None:
        self.config = config
        self.latency = latency
        self.corpus = corpus
        self.metrics = metrics
        self.queue = queue

    async def serve(self, exchange: Exchange, plan: Plan) -> None:
        inference = plan.inference
        assert isinstance(inference, ResponsesInference)  # routed here by kind
        max_hang, tokens = self.config.max_hang, inference.prompt_tokens
        schedule = await first_token(
            exchange, plan.fault, max_hang, self.latency, self.queue, tokens
        )
        if schedule is None:
            await self.stopped(exchange, plan)
            return
        items = answer_output(inference, plan, self.corpus)
        if inference.stream:
            await self._stream(exchange, plan, inference, items, schedule)
        else:
            await self._whole(exchange, plan, inference, items, schedule.deadline)

    def _response(
        self, plan: Plan, inference: ResponsesInference, items: list[_Item], emitted: int
    ) -> dict[str, Any]:
        """The finished response object, its items and usage as far as ``emitted`` tokens."""
        incomplete = plan.finish_reason == "length"
        if not incomplete and emitted == plan.tokens:  # whole (its items may not be in tokens)
            output = [item.body("completed") for item in items]
        else:
            output = []
            left = emitted
            for position, item in enumerate(items):
                cut = incomplete and position == len(items) - 1
                output.append(item.body("incomplete" if cut else "completed", left))
                left -= len(item.texts)
        return response_object(
            id=plan.id,
            created_at=plan.created,
            model=inference.model,
            status="incomplete" if incomplete else "completed",
            output=output,
            usage=response_usage(inference.prompt_tokens, emitted),
            incomplete_reason="max_output_tokens" if incomplete else None,
            echo=inference.echo,
        )

    async def stopped(self, exchange: Exchange, plan: Plan) -> None:
        """End an exchange whose pause was cut short: nothing if the client left."""
        body = encode_error("the simulator is shutting down", "server_error", code="shutdown")
        await stop_exchange(exchange, self.metrics, plan.endpoint, plan.headers, body)

    async def _whole(
        self,
        exchange: Exchange,
        plan: Plan,
        inference: ResponsesInference,
        items: list[_Item],
        first_token: float,
    ) -> None:
        fault = plan.fault
        active = self.queue.active
        deadline = first_token + self.latency.decode_time(plan.tokens, active, slow=fault == "slow")
        if not await exchange.pause_until(deadline):
            await self.stopped(exchange, plan)
            return
        metrics = self.metrics
        metrics.lateness(exchange.now() - deadline)
        metrics.completion_tokens += plan.tokens
        response = self._response(plan, inference, items, plan.tokens)
        body = dumps(response)
        max_hang = self.config.max_hang
        await send_whole(exchange, metrics, plan.endpoint, body, plan.headers, fault, max_hang)

    async def _stream(
        self,
        exchange: Exchange,
        plan: Plan,
        inference: ResponsesInference,
        items: list[_Item],
        schedule: TokenSchedule,
    ) -> None:
        stream = _EventStream(self, exchange, plan, schedule)
        opening = response_object(
            id=plan.id,
            created_at=plan.created,
            model=inference.model,
            status="in_progress",
            output=[],
            usage=None,
            echo=inference.echo,
        )
        events = stream.events
        self.metrics.response(plan.endpoint, 200)
        await exchange.start(200, [*STREAM_HEADERS, *plan.headers])
        head = events.event("response.created", response=opening)
        await exchange.body(head + events.event("response.in_progress", response=opening), True)
        try:
            for index, item in enumerate(items):
                if not await stream.item(index, item):
                    return
            response = self._response(plan, inference, items, stream.emitted)
            done = f"response.{response['status']}"
            await exchange.body(events.event(done, response=response))
        finally:
            self.metrics.completion_tokens += stream.emitted


class _EventStream:
    """The events of one streamed response, sent on its schedule, faults included."""

    __slots__ = ("_exchange", "_fault_at", "_plan", "_responder", "_schedule", "emitted", "events")

    def __init__(
        self,
        responder: ResponsesResponder,
        exchange: Exchange,
        plan: Plan,
        schedule: TokenSchedule,
    ) -> None:
        self._responder = responder
        self._exchange = exchange
        self._plan = plan
        self._schedule = schedule
        self._fault_at = (plan.tokens + 1) // 2 if plan.fault in MID_STREAM else 0
        self.events = ResponseEventEncoder()
        self.emitted = 0

    async def item(self, index: int, item: _Item) -> bool:
        """Stream one output item, from its added event to its done event; False when the
        stream ended early (a fault, the client gone, the server closing)."""
        events = self.events
        message = item.kind == "message"
        refusal = item.part == "refusal"
        added = item.body("in_progress", 0)
        out = [events.event("response.output_item.added", output_index=index, item=added)]
        where = {"item_id": item.id, "output_index": index}
        part: dict[str, Any] = (
            {"type": "refusal", "refusal": ""}
            if refusal
            else {"type": "output_text", "annotations": [], "text": ""}
        )
        if message:
            out.append(
                events.event("response.content_part.added", **where, content_index=0, part=part)
            )
            delta = events.refusal_delta if refusal else events.text_delta
        else:
            delta = events.arguments_delta
        responder, exchange, plan = self._responder, self._exchange, self._plan
        latency, queue, schedule = responder.latency, responder.queue, self._schedule
        slow = plan.fault == "slow"
        per_chunk, pieces = responder.config.tokens_per_chunk, item.pieces
        last, fault_at, emitted = len(pieces) - 1, self._fault_at, self.emitted
        lateness, item_id = responder.metrics.lateness, item.id
        chunk: list[bytes] = []
        for position, piece in enumerate(pieces):
            if emitted or chunk:
                schedule.advance(latency.inter_token(queue.active, slow=slow))
            chunk.append(piece)
            reached = emitted + len(chunk)
            if len(chunk) < per_chunk and position != last and reached != fault_at:
                continue
            if not await exchange.pause_until(schedule.deadline):
                await responder.stopped(exchange, plan)
                return False
            lateness(exchange.now() - schedule.deadline)
            sent = chunk if message else [piece for piece in chunk if piece]  # a call's head
            data = delta(item_id, index, sent) if sent else b""
            if out:
                data = b"".join(out) + data
                out = []
            await exchange.body(data, more=True)
            chunk, emitted = [], reached
            self.emitted = emitted
            if reached == fault_at and not await self._fault(delta(item_id, index, [])):
                return False
        text = "".join(item.texts)
        if refusal:
            out.append(
                events.event("response.refusal.done", **where, content_index=0, refusal=text)
            )
        elif message:
            out.append(
                events.event(
                    "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
                )
            )
        if message:
            done_part = {**part, "refusal" if refusal else "text": text}
            out.append(
                events.event("response.content_part.done", **where, content_index=0, part=done_part)
            )
        else:
            out.append(
                events.event("response.function_call_arguments.done", **where, arguments=text)
            )
        cut = plan.finish_reason == "length" and self.emitted == plan.tokens
        done = item.body("incomplete" if cut else "completed")
        out.append(events.event("response.output_item.done", output_index=index, item=done))
        await exchange.body(b"".join(out), more=True)
        return True

    async def _fault(self, sample: bytes) -> bool:
        """The mid-stream fault, half-way through; False when it ends the stream.
        ``sample`` is an event to cut in half for ``malformed``."""
        exchange, responder = self._exchange, self._responder
        malformed = sample[: len(sample) // 2] + b"\n\n"
        max_hang = responder.config.max_hang
        struck = await mid_stream_fault(
            exchange, self._plan.fault, malformed, self._schedule, max_hang
        )
        if struck == STOPPED:
            await responder.stopped(exchange, self._plan)
        return struck == GO
