"""The Responses API written out: response objects, output items, and streamed events.

Every streamed event is framed with its type on an ``event:`` line and carries a
``sequence_number`` that `ResponseEventEncoder` counts. Text and argument deltas, the bulk of
a stream, are spliced into byte templates (as `ChunkEncoder` does for chat), so a token costs
a few concatenations.

    events = ResponseEventEncoder()
    events.event("response.created", response=response_object(...))
    events.text_delta("msg_1", 0, [b'"Hello"'])
    # b'event: response.output_text.delta\\ndata: {"type":...,"delta":"Hello",...}\\n\\n'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._encode import join_strings
from ._json import encode_json

__all__ = [
    "ResponseEventEncoder",
    "encode_response",
    "function_call_item",
    "message_item",
    "refusal_item",
    "response_object",
    "response_usage",
]

# What a response echoes of its request when the request left a setting out.
_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}
ECHOED = frozenset(_DEFAULTS)
"""The request settings a response object repeats."""


def response_usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """``usage`` in the Responses API's terms, with its (zero) details."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def message_item(id: str, text: str | None, status: str) -> dict[str, Any]:
    """An assistant ``message`` item; ``text=None`` gives it no content part yet."""
    content = [] if text is None else [{"type": "output_text", "annotations": [], "text": text}]
    return {"id": id, "type": "message", "status": status, "role": "assistant", "content": content}


def refusal_item(id: str, refusal: str, status: str) -> dict[str, Any]:
    """An assistant ``message`` item whose content is a ``refusal`` part."""
    content = [{"type": "refusal", "refusal": refusal}]
    return {"id": id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(
    id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    """A ``function_call`` item."""
    return {
        "id": id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def response_object(
    *,
    id: str,
    created_at: int,
    model: str,
    status: str,
    output: Sequence[Mapping[str, Any]],
    usage: Mapping[str, Any] | None,
    incomplete_reason: str | None = None,
    echo: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``response`` object; ``echo`` holds the request's settings it repeats (see
    `ECHOED`; the others are left out), defaults standing for those not given."""
    response = {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None if incomplete_reason is None else {"reason": incomplete_reason},
        "model": model,
        "output": list(output),
        **_DEFAULTS,
    }
    if echo:  # the defaults' keys: each keeps its place
        response.update({key: value for key, value in echo.items() if key in ECHOED})
    response["usage"] = usage
    return response


def encode_response(**fields: Any) -> bytes:
    """`response_object` as a JSON body."""
    return encode_json(response_object(**fields))


class ResponseEventEncoder:
    """The events of one streamed response, framed, numbered from 0 in the order made."""

    __slots__ = ("_heads", "_sequence")

    def __init__(self) -> None:
        self._sequence = 0
        self._heads: dict[tuple[bytes, str, int], bytes] = {}

    def _next(self) -> int:
        number = self._sequence
        self._sequence = number + 1
        return number

    def event(self, type: str, **fields: Any) -> bytes:
        """One event of ``type`` with ``fields``."""
        data = encode_json({"type": type, **fields, "sequence_number": self._next()})
        return b"event: " + type.encode() + b"\ndata: " + data + b"\n\n"

    def _delta(self, type: bytes, item_id: str, output_index: int, extra: bytes) -> bytes:
        key = (type, item_id, output_index)
        head = self._heads.get(key)
        if head is None:  # the same for every delta of an item: made once
            head = self._heads[key] = (
                b'event: %s\ndata: {"type":"%s","item_id":%s,"output_index":%d'
                % (
                    type,
                    type,
                    json.dumps(item_id).encode(),
                    output_index,
                )
            )
        number = self._sequence
        self._sequence = number + 1
        return b'%s%s,"sequence_number":%d}\n\n' % (head, extra, number)

    def text_delta(self, item_id: str, output_index: int, pieces: list[bytes]) -> bytes:
        """``response.output_text.delta`` of ``pieces`` (JSON string literals, joined)."""
        delta = b',"content_index":0,"delta":' + join_strings(pieces) + b',"logprobs":[]'
        return self._delta(b"response.output_text.delta", item_id, output_index, delta)

    def refusal_delta(self, item_id: str, output_index: int, pieces: list[bytes]) -> bytes:
        """``response.refusal.delta`` of ``pieces`` (JSON string literals, joined)."""
        delta = b',"content_index":0,"delta":' + join_strings(pieces)
        return self._delta(b"response.refusal.delta", item_id, output_index, delta)

    def arguments_delta(self, item_id: str, output_index: int, pieces: list[bytes]) -> bytes:
        """``response.function_call_arguments.delta`` of ``pieces`` (JSON string literals)."""
        delta = b',"delta":' + join_strings(pieces)
        return self._delta(b"response.function_call_arguments.delta", item_id, output_index, delta)
