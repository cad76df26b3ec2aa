"""Response bodies and SSE chunks in OpenAI's shapes.

Stream chunks are built from per-response byte templates: the fixed part of every chunk of a
response (id, created, model) is encoded once, and each chunk only splices in the JSON string
of its text. That keeps a token's cost to a few concatenations.

    chunks = ChunkTemplates("chat", "chatcmpl-sim1", 1700000000, "sim-model")
    chunks.content([b'"Hello"'])
    # b'data: {"id":"chatcmpl-sim1",...,"delta":{"content":"Hello"},...}\\n\\n'
"""

from __future__ import annotations

import json

from ._content import embedding_base64

__all__ = ["ChunkTemplates", "completion_body", "embedding_body", "models_body"]

_FINGERPRINT = "fp_sim"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    kind: str,
    id_: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> bytes:
    """A non-streamed ``chat.completion`` or ``text_completion``."""
    choice: dict[str, object]
    if kind == "chat":
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        obj = "chat.completion"
    else:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    body = {
        "id": id_,
        "object": obj,
        "created": created,
        "model": model,
        "system_fingerprint": _FINGERPRINT,
        "choices": [choice],
        "usage": _usage(prompt_tokens, completion_tokens),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def embedding_body(
    model: str, vectors: list[list[float]], base64: bool, prompt_tokens: int
) -> bytes:
    """A ``list`` of ``embedding`` objects; vectors base64-packed when asked."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": embedding_base64(vector) if base64 else vector,
        }
        for i, vector in enumerate(vectors)
    ]
    body = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def models_body(models: tuple[str, ...], created: int) -> bytes:
    """The ``GET /v1/models`` list."""
    data = [model_object(m, created) for m in models]
    return json.dumps({"object": "list", "data": data}, separators=(",", ":")).encode()


def model_object(model: str, created: int) -> dict[str, object]:
    return {"id": model, "object": "model", "created": created, "owned_by": "sluice-sim"}


def _join_strings(pieces: list[bytes]) -> bytes:
    """Concatenate JSON string literals that need no escaping into one literal."""
    if len(pieces) == 1:
        return pieces[0]
    return b'"' + b"".join(p[1:-1] for p in pieces) + b'"'


class ChunkTemplates:
    """The SSE events of one streamed response."""

    __slots__ = ("_chat", "_head", "_tail")

    def __init__(self, kind: str, id_: str, created: int, model: str) -> None:
        self._chat = kind == "chat"
        obj = "chat.completion.chunk" if self._chat else "text_completion"
        head = (
            f'data: {{"id":{json.dumps(id_)},"object":"{obj}","created":{created},'
            f'"model":{json.dumps(model)},"system_fingerprint":"{_FINGERPRINT}","choices":'
        )
        self._head = head.encode()
        self._tail = b"}\n\n"

    def _choice(self, text: bytes, finish: bytes) -> bytes:
        if self._chat:
            delta = b'{"content":' + text + b"}" if text else b"{}"
            choice = b'[{"index":0,"delta":' + delta + b',"logprobs":null,"finish_reason":'
        else:
            choice = b'[{"text":' + (text or b'""') + b',"index":0,"logprobs":null,"finish_reason":'
        return self._head + choice + finish + b"}]" + self._tail

    def opening(self) -> bytes:
        """The chat stream's first event: the assistant role with empty content."""
        if not self._chat:
            return b""
        return (
            self._head
            + b'[{"index":0,"delta":{"role":"assistant","content":""},'
            + b'"logprobs":null,"finish_reason":null}]'
            + self._tail
        )

    def content(self, pieces: list[bytes]) -> bytes:
        """One event carrying the given JSON-encoded text pieces."""
        return self._choice(_join_strings(pieces), b"null")

    def finish(self, reason: str) -> bytes:
        return self._choice(b"", b'"' + reason.encode() + b'"')

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        usage = json.dumps(_usage(prompt_tokens, completion_tokens), separators=(",", ":"))
        return self._head + b'[],"usage":' + usage.encode() + self._tail

    def malformed(self) -> bytes:
        """An event whose data is cut off mid-object: not valid JSON."""
        return self._head + b'[{"index":0,"delta":{"content":"\n\n'
