"""Answers in OpenAI's shapes: whole bodies, and the chunks of a streamed completion.

Stream chunks come from per-response byte templates: the fixed part of every chunk of a
response (id, created, model) is encoded once, and each chunk only splices in the JSON string
of its text. That keeps a token's cost to a few concatenations.

    chunks = ChunkEncoder("chat", "chatcmpl-1", 1700000000, "gpt-4o-mini")
    chunks.content([b'"Hello"'])
    # b'data: {"id":"chatcmpl-1",...,"delta":{"content":"Hello"},...}\\n\\n'
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import ParamSpec

from ._json import encode_json_ascii
from ._types import Model, ToolCall

P = ParamSpec("P")

__all__ = [
    "ChunkEncoder",
    "completion_object",
    "embeddings_object",
    "encode_completion",
    "encode_embedding_base64",
    "encode_embeddings",
    "encode_model",
    "encode_models",
]

_KINDS = ("chat", "completion")


_dumps = encode_json_ascii  # json.dumps' bytes, compact, at a cached encoder's cost


def _check_kind(kind: str) -> bool:
    """True for a chat completion, False for a legacy text completion."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be 'chat' or 'completion', got {kind!r}")
    return kind == "chat"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_object(
    kind: str,
    *,
    id: str,
    created: int,
    model: str,
    text: str | None,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    system_fingerprint: str | None = None,
    tool_calls: Sequence[ToolCall] = (),
    refusal: str | None = None,
) -> dict[str, object]:
    """A non-streamed ``chat.completion`` (``kind="chat"``) or ``text_completion``
    (``kind="completion"``) with one choice, as an object to encode (`encode_completion`
    encodes it). A chat message may hold ``tool_calls`` or a ``refusal`` (its content is then
    usually None)."""
    choice: dict[str, object]
    if _check_kind(kind):
        message: dict[str, object] = {"role": "assistant", "content": text, "refusal": refusal}
        if tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": call.type,
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in tool_calls
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        obj = "chat.completion"
    else:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    return {
        "id": id,
        "object": obj,
        "created": created,
        "model": model,
        "system_fingerprint": system_fingerprint,
        "choices": [choice],
        "usage": _usage(prompt_tokens, completion_tokens),
    }


def _encoded(make: Callable[P, dict[str, object]], doc: str) -> Callable[P, bytes]:
    """``make``'s object as a JSON body, with ``make``'s parameters (typed alike)."""

    def encode(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return _dumps(make(*args, **kwargs))

    encode.__doc__ = doc
    return encode


encode_completion = _encoded(
    completion_object,
    """`completion_object` as a JSON body (non-ASCII text escaped, as ``json.dumps`` writes
    it).

        encode_completion("chat", id="chatcmpl-1", created=0, model="m", text="Hi",
                          finish_reason="stop", prompt_tokens=3, completion_tokens=1)
    """,
)


def encode_embedding_base64(vector: Iterable[float]) -> str:
    """Little-endian float32, base64: what OpenAI sends for ``encoding_format="base64"``."""
    values = list(vector)
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def embeddings_object(
    model: str,
    vectors: Iterable[list[float]],
    *,
    prompt_tokens: int,
    encoding_format: str = "float",
) -> dict[str, object]:
    """A ``list`` of ``embedding`` objects, in input order, as an object to encode
    (`encode_embeddings` encodes it); with ``encoding_format="base64"`` each vector is packed
    by `encode_embedding_base64`."""
    if encoding_format not in ("float", "base64"):
        raise ValueError(f"encoding_format must be 'float' or 'base64', got {encoding_format!r}")
    packed = encoding_format == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": encode_embedding_base64(vector) if packed else vector,
        }
        for i, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


encode_embeddings = _encoded(
    embeddings_object,
    """`embeddings_object` as a JSON body.

        encode_embeddings("text-embedding-3-small", [[0.1, 0.2]], prompt_tokens=2)
    """,
)


def _model_object(model: Model) -> dict[str, object]:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}


def encode_model(model: Model) -> bytes:
    """One entry of ``GET /models``, as ``GET /models/{id}`` answers it."""
    return _dumps(_model_object(model))


def encode_models(models: Iterable[Model]) -> bytes:
    """The ``GET /models`` list."""
    return _dumps({"object": "list", "data": [_model_object(m) for m in models]})


def join_strings(pieces: list[bytes]) -> bytes:
    """JSON string literals joined into one (escapes never span a literal's quotes)."""
    if len(pieces) == 1:
        return pieces[0]
    return b'"' + b"".join(p[1:-1] for p in pieces) + b'"'


class ChunkEncoder:
    """The SSE events of one streamed completion, each framed and ready to send."""

    __slots__ = ("_chat", "_head")

    def __init__(
        self,
        kind: str,
        id: str,
        created: int,
        model: str,
        *,
        system_fingerprint: str | None = None,
    ) -> None:
        self._chat = _check_kind(kind)
        obj = "chat.completion.chunk" if self._chat else "text_completion"
        head = (
            f'data: {{"id":{json.dumps(id)},"object":"{obj}","created":{int(created)},'
            f'"model":{json.dumps(model)},"system_fingerprint":{json.dumps(system_fingerprint)},'
            '"choices":'
        )
        self._head = head.encode()

    def _choice(self, text: bytes, finish: bytes) -> bytes:
        if self._chat:
            delta = b'{"content":' + text + b"}" if text else b"{}"
            choice = b'[{"index":0,"delta":' + delta + b',"logprobs":null,"finish_reason":'
        else:
            choice = b'[{"text":' + (text or b'""') + b',"index":0,"logprobs":null,"finish_reason":'
        return self._head + choice + finish + b"}]}\n\n"

    def opening(self) -> bytes:
        """A chat stream's first event: the assistant role with empty content (a text
        completion stream has none: empty bytes)."""
        if not self._chat:
            return b""
        return (
            self._head
            + b'[{"index":0,"delta":{"role":"assistant","content":""},'
            + b'"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def content(self, pieces: list[bytes]) -> bytes:
        """One event carrying ``pieces``: JSON string literals (``json.dumps(text).encode()``),
        sent as one text."""
        return self._choice(join_strings(pieces), b"null")

    def _chat_delta(self, delta: bytes) -> bytes:
        return (
            self._head
            + b'[{"index":0,"delta":'
            + delta
            + b',"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def refusal(self, pieces: list[bytes]) -> bytes:
        """A chat event carrying part of a refusal (JSON string literals, as for `content`)."""
        return self._chat_delta(b'{"refusal":' + join_strings(pieces) + b"}")

    def tool_call(self, index: int, id: str, name: str, pieces: list[bytes]) -> bytes:
        """A tool call's first chat event: its ``index``, ``id`` and function ``name``, with
        the first ``pieces`` of its arguments (none: ``""``)."""
        arguments = join_strings(pieces) if pieces else b'""'
        call = b'{"index":%d,"id":%s,"type":"function","function":{"name":%s,"arguments":%s}}' % (
            index,
            _dumps(id),
            _dumps(name),
            arguments,
        )
        return self._chat_delta(b'{"tool_calls":[' + call + b"]}")

    def tool_arguments(self, index: int, pieces: list[bytes]) -> bytes:
        """A chat event carrying more of tool call ``index``'s arguments."""
        call = b'{"index":%d,"function":{"arguments":%s}}' % (index, join_strings(pieces))
        return self._chat_delta(b'{"tool_calls":[' + call + b"]}")

    def finish(self, reason: str) -> bytes:
        """The event closing the choice with its ``finish_reason``."""
        return self._choice(b"", json.dumps(reason).encode())

    def with_usage(self, events: bytes, prompt_tokens: int, completion_tokens: int) -> bytes:
        """``events`` (from this encoder) each carrying the usage so far, as vLLM sends them
        for ``stream_options={"include_usage": true, "continuous_usage_stats": true}``."""
        usage = b',"usage":' + _dumps(_usage(prompt_tokens, completion_tokens)) + b"}\n\n"
        return events.replace(b"}\n\n", usage)

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The last event of ``stream_options={"include_usage": true}``: no choices, usage."""
        usage = _dumps(_usage(prompt_tokens, completion_tokens))
        return self._head + b'[],"usage":' + usage + b"}\n\n"
