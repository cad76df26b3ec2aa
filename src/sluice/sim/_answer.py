"""Answers that are not corpus text: tool calls, JSON for a structured output, refusals
(chat and the Responses API alike; the Messages API takes its calls from `_tool_calls` too).

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

from ..openai import ChunkEncoder, SchemaError, ToolCall
from ._json import dumps
from ._protocol import Inference
from ._request_error import RequestError
from ._tool_calls import call_seed, choose_calls

__all__ = ["REFUSAL", "Answer", "build_answer", "call_tokens", "token_pieces"]

REFUSAL = "I'm sorry, but I can't help with that request."
# The kinds of request a structured answer serves, and the parameter naming their format.
_STRUCTURED_KINDS = {"chat": "response_format", "response": "text.format"}
_CONTENT = -1
_REFUSAL = -2
# One token each (see _content's tokenizer), with the whitespace before it.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


def token_pieces(text: str) -> list[str]:
    """``text`` cut into pieces of one token each, which join back into it."""
    pieces: list[str] = _PIECE.findall(text)
    if text[-1:].isspace():  # trailing whitespace belongs to the last token
        if not pieces:
            return [text]
        pieces[-1] += text[len(text.rstrip()) :]
    return pieces


# ASCII text (all generated JSON, mostly) is counted without the regex, by two byte
# translations: each character that is neither a word character nor a space is a token, and
# so is each run of word characters (what split() finds once the others are spaces).
_WORD = frozenset(c for c in range(128) if chr(c).isalnum() or chr(c) == "_")
_SPACE = frozenset(c for c in range(128) if chr(c).isspace())
_PUNCTUATION = bytes(c for c in range(128) if c not in _WORD and c not in _SPACE)
_WORDS_ONLY = bytes(c if c in _WORD else 0x20 for c in range(256))


def _token_count(text: str) -> int:
    """``count_tokens(text)``, faster for ASCII text."""
    if not text.isascii():
        return len(token_pieces(text)) if text.strip() else 0
    raw = text.encode()
    punctuation = len(raw) - len(raw.translate(None, _PUNCTUATION))
    return punctuation + len(raw.translate(_WORDS_ONLY).split())


def call_tokens(calls: tuple[ToolCall, ...]) -> int:
    """The output tokens of ``calls``: one each for its id and name, and its arguments'."""
    tokens = len(calls)
    for call in calls:
        tokens += _token_count(call.arguments)
    return tokens


class Answer:
    """One answer: content, a refusal, or tool calls, and its one-token units (made only
    when needed: to stream it, or to cut it short)."""

    __slots__ = ("_channels", "_starts", "_texts", "calls", "finish_reason", "text", "tokens")

    def __init__(self, text: str, channel: int, calls: tuple[ToolCall, ...] = ()) -> None:
        self.text = text
        self.calls = calls
        self.finish_reason = "tool_calls" if calls else "stop"
        if calls:  # a call's first unit stands for its id and name
            self.tokens = call_tokens(calls)
        else:
            self.tokens = _token_count(text)
        self._texts: list[str] = []
        self._channels: list[int] = [channel]
        self._starts: list[int] = []  # where each call's units begin

    @classmethod
    def content(cls, text: str) -> Answer:
        return cls(text, _CONTENT)

    @classmethod
    def refusal(cls, text: str) -> Answer:
        return cls(text, _REFUSAL)

    @classmethod
    def tool_calls(cls, calls: tuple[ToolCall, ...]) -> Answer:
        return cls("", 0, calls)

    def _units(self) -> tuple[list[str], list[int]]:
        if self._texts or not self.tokens:
            return self._texts, self._channels
        if not self.calls:
            self._texts = token_pieces(self.text)
            self._channels = self._channels[:1] * len(self._texts)
            return self._texts, self._channels
        texts: list[str] = []
        channels: list[int] = []
        for index, call in enumerate(self.calls):
            pieces = token_pieces(call.arguments)
            self._starts.append(len(texts))
            texts += ["", *pieces]
            channels += [index] * (len(pieces) + 1)
        self._texts, self._channels = texts, channels
        return texts, channels

    def json_pieces(self, count: int) -> list[bytes]:
        """The first ``count`` units as JSON string literals (a call's first unit: empty)."""
        texts, _ = self._units()
        return [json.dumps(text).encode() if text else b"" for text in texts[:count]]

    def ends_group(self, position: int) -> bool:
        """Whether the unit after ``position`` goes to another channel (or starts a call)."""
        _, channels = self._units()
        return position + 1 >= len(channels) or channels[position + 1] != channels[position]

    def event(self, chunks: ChunkEncoder, start: int, pieces: list[bytes]) -> bytes:
        """The stream event for units ``start``... (``pieces``, all on one channel)."""
        _, channels = self._units()
        channel = channels[start]
        if channel == _CONTENT:
            return chunks.content(pieces)
        if channel == _REFUSAL:
            return chunks.refusal(pieces)
        if start == 0 or channels[start - 1] != channel:
            call = self.calls[channel]
            return chunks.tool_call(channel, call.id or "", call.name, pieces[1:])
        return chunks.tool_arguments(channel, pieces)

    def runs(self, count: int) -> list[tuple[str, ToolCall | None, list[str]]]:
        """The first ``count`` units in runs of one channel: ``("content", None, texts)``,
        ``("refusal", None, texts)`` or ``("call", call, texts)``, whose first text (the
        unit standing for the call's id and name) is empty."""
        texts, channels = self._units()
        runs: list[tuple[str, ToolCall | None, list[str]]] = []
        start = 0
        count = min(count, len(texts))
        while start < count:
            channel = channels[start]
            end = start + 1
            while end < count and channels[end] == channel:  # each call has its own channel
                end += 1
            if channel == _CONTENT:
                runs.append(("content", None, texts[start:end]))
            elif channel == _REFUSAL:
                runs.append(("refusal", None, texts[start:end]))
            else:
                runs.append(("call", self.calls[channel], texts[start:end]))
            start = end
        return runs

    def message(self, count: int) -> tuple[str | None, str | None, tuple[ToolCall, ...]]:
        """Content, refusal and tool calls of the answer's first ``count`` units."""
        refused = self._channels[0] == _REFUSAL
        if count >= self.tokens:
            if refused:
                return None, self.text, ()
            return (None, None, self.calls) if self.calls else (self.text, None, ())
        texts, _ = self._units()
        texts = texts[:count]
        if not self.calls:
            text = "".join(texts)
            return (None, text, ()) if refused else (text, None, ())
        calls = []
        ends = [*self._starts[1:], len(self._texts)]
        for call, start, end in zip(self.calls, self._starts, ends, strict=True):
            if start >= count:
                break
            calls.append(ToolCall(call.id, call.name, "".join(texts[start + 1 : end])))
        return None, None, tuple(calls)


def build_answer(
    inference: Inference, seed: int, fault: str | None, filler: Callable[[], str]
) -> Answer | None:
    """The answer to a chat or Responses request that asks for tools or a structured output,
    or that gets the ``refusal`` fault; None when corpus text answers it. ``filler`` gives the
    text a ``json_object`` answer wraps. `RequestError` when a schema cannot be satisfied."""
    if inference.kind not in _STRUCTURED_KINDS:
        return None
    if fault == "refusal":
        return Answer.refusal(REFUSAL)
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
    if output.content is None:
        return Answer.content(dumps({"answer": filler()}).decode())
    try:
        value = output.content(request_seed)
    except SchemaError as exc:
        param = _STRUCTURED_KINDS[inference.kind]
        message = f"{param} {output.name!r}: its schema cannot be satisfied: {exc}"
        raise RequestError(400, message, param=param) from None
    return Answer.content(dumps(value).decode())
