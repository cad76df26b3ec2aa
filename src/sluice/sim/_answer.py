"""Chat answers that are not corpus text: tool calls, JSON for a response format, refusals.

An answer is a list of one-token units, each on a channel: the content, the refusal, or one
tool call (whose first unit stands for its id and name, so a call costs one token plus its
arguments' tokens). Streaming sends units on schedule as the API does: a tool call's first
event carries its index, id and name, the next ones pieces of its arguments. Cut short (by
``max_tokens`` or the ``length`` fault), an answer keeps its first units: JSON content or
arguments end mid-value, and calls not yet begun are left out.

    answer = build_answer(inference, seed=0, fault=None, filler=lambda: "river stone")
    answer.tokens, answer.finish_reason          # 23, "tool_calls"
    content, refusal, calls = answer.message(answer.tokens)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from ..openai import ChunkEncoder, SchemaError, ToolCall, encode_json, schema_instance
from ._protocol import Inference
from ._request_error import RequestError
from ._tools import call_seed, choose_calls

__all__ = ["REFUSAL", "Answer", "build_answer", "token_pieces"]

REFUSAL = "I'm sorry, but I can't help with that request."
_CONTENT = -1
_REFUSAL = -2
# One token each (see _content's tokenizer), with the whitespace before it.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


def token_pieces(text: str) -> list[str]:
    """``text`` cut into pieces of one token each, which join back into it."""
    pieces: list[str] = _PIECE.findall(text)
    joined = sum(map(len, pieces))
    if joined < len(text):  # trailing whitespace belongs to the last token
        if not pieces:
            return [text]
        pieces[-1] += text[joined:]
    return pieces


class Answer:
    """One answer's units and what they add up to."""

    __slots__ = ("_channels", "_texts", "calls", "finish_reason")

    def __init__(
        self, texts: list[str], channels: list[int], calls: tuple[ToolCall, ...], finish: str
    ) -> None:
        self._texts = texts
        self._channels = channels
        self.calls = calls
        self.finish_reason = finish

    @classmethod
    def text(cls, text: str, channel: int = _CONTENT) -> Answer:
        pieces = token_pieces(text)
        return cls(pieces, [channel] * len(pieces), (), "stop")

    @classmethod
    def tool_calls(cls, calls: tuple[ToolCall, ...]) -> Answer:
        texts: list[str] = []
        channels: list[int] = []
        for index, call in enumerate(calls):
            pieces = token_pieces(call.arguments)
            texts += ["", *pieces]
            channels += [index] * (len(pieces) + 1)
        return cls(texts, channels, calls, "tool_calls")

    @property
    def tokens(self) -> int:
        return len(self._texts)

    def json_pieces(self, count: int) -> list[bytes]:
        """The first ``count`` units as JSON string literals (a call's first unit: empty)."""
        return [json.dumps(text).encode() if text else b"" for text in self._texts[:count]]

    def ends_group(self, position: int) -> bool:
        """Whether the unit after ``position`` goes to another channel (or starts a call)."""
        channels = self._channels
        return position + 1 >= len(channels) or channels[position + 1] != channels[position]

    def event(self, chunks: ChunkEncoder, start: int, pieces: list[bytes]) -> bytes:
        """The stream event for units ``start``... (``pieces``, all on one channel)."""
        channel = self._channels[start]
        if channel == _CONTENT:
            return chunks.content(pieces)
        if channel == _REFUSAL:
            return chunks.refusal(pieces)
        if start == 0 or self._channels[start - 1] != channel:
            call = self.calls[channel]
            return chunks.tool_call(channel, call.id or "", call.name, pieces[1:])
        return chunks.tool_arguments(channel, pieces)

    def message(self, count: int) -> tuple[str | None, str | None, tuple[ToolCall, ...]]:
        """Content, refusal and tool calls of the answer's first ``count`` units."""
        texts, channels = self._texts[:count], self._channels[:count]
        if not self.calls:
            text = "".join(texts)
            return (None, text, ()) if channels and channels[0] == _REFUSAL else (text, None, ())
        calls = []
        for index, call in enumerate(self.calls):
            if index not in channels:
                break
            start = channels.index(index)
            end = start + 1
            while end < len(channels) and channels[end] == index:
                end += 1
            calls.append(ToolCall(call.id, call.name, "".join(texts[start + 1 : end])))
        return None, None, tuple(calls)


def build_answer(
    inference: Inference, seed: int, fault: str | None, filler: Callable[[], str]
) -> Answer | None:
    """The answer to a chat request that asks for tools or a response format, or that gets
    the ``refusal`` fault; None when corpus text answers it. ``filler`` gives the text a
    ``json_object`` answer wraps. `RequestError` when a schema cannot be satisfied."""
    if inference.kind != "chat":
        return None
    if fault == "refusal":
        return Answer.text(REFUSAL, _REFUSAL)
    spec = inference.structured
    if spec is None:
        return None
    request_seed = call_seed(seed, inference.model, inference.prompt_key)
    calls = choose_calls(spec.tools, spec.choice, spec.parallel, spec.after_tool, request_seed)
    if calls:
        return Answer.tool_calls(calls)
    output = spec.output
    if output is None:
        return None
    if output.schema is None:
        return Answer.text(encode_json({"answer": filler()}).decode())
    try:
        value = schema_instance(output.schema, request_seed)
    except SchemaError as exc:
        message = f"response_format {output.name!r}: its schema cannot be satisfied: {exc}"
        raise RequestError(400, message, param="response_format") from None
    return Answer.text(encode_json(value).decode())
