"""Anthropic's Messages API on the wire: message bodies, stream events, error bodies and the
``anthropic-ratelimit-*`` headers, as the official SDK parses them.

Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``, their type
following the status (400 ``invalid_request_error``, 429 ``rate_limit_error``, 500
``api_error``, 529 ``overloaded_error``, ...). Rate-limit headers give each budget's limit,
remaining units and reset as an RFC 3339 instant (when the bucket is full again); the
simulator has one token bucket for input and output, so ``tokens``, ``input-tokens`` and
``output-tokens`` report the same budget.

    events = MessageEvents("msg_1", "claude-sim")
    events.start(input_tokens=7) + events.block_start(0, {"type": "text", "text": ""})
    # b'event: message_start\\ndata: {"type":"message_start",...}\\n\\nevent: ...'
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from ..openai import encode_sse
from ._json import dumps
from ._limits import RateDecision

__all__ = [
    "MessageEvents",
    "encode_error",
    "encode_message",
    "error_type",
    "rate_limit_headers",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status (``api_error`` for other 5xx)."""
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def encode_error(status: int, message: str, request_id: str) -> bytes:
    """An error body in Anthropic's shape."""
    error = {"type": error_type(status), "message": message}
    return dumps({"type": "error", "error": error, "request_id": request_id})


def _usage(input_tokens: int, output_tokens: int) -> dict[str, object]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(
    id: str,
    model: str,
    content: list[dict[str, object]],
    stop_reason: str | None,
    stop_sequence: str | None,
    usage: dict[str, object],
) -> dict[str, object]:
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def encode_message(
    id: str,
    model: str,
    content: Sequence[dict[str, object] | bytes],
    *,
    stop_reason: str,
    stop_sequence: str | None,
    input_tokens: int,
    output_tokens: int,
) -> bytes:
    """A whole (non-streamed) ``message``; a content block given as bytes is its JSON."""
    usage = _usage(input_tokens, output_tokens)
    objects = [block for block in content if isinstance(block, dict)]
    if len(objects) == len(content):
        return dumps(_message(id, model, objects, stop_reason, stop_sequence, usage))
    head = dumps(_message(id, model, [], stop_reason, stop_sequence, usage))
    before, after = head.split(b',"content":[]', 1)  # no JSON string holds '"content"' raw
    blocks = b",".join(b if isinstance(b, bytes) else dumps(b) for b in content)
    return before + b',"content":[' + blocks + b"]" + after


def _event(name: str, payload: dict[str, object]) -> bytes:
    return encode_sse(dumps({"type": name, **payload}), event=name)


class MessageEvents:
    """The server-sent events of one streamed message, framed and ready to send."""

    __slots__ = ("_id", "_model")

    def __init__(self, id: str, model: str) -> None:
        self._id = id
        self._model = model

    def start(self, input_tokens: int) -> bytes:
        """``message_start``: no content yet, one output token so far."""
        message = _message(self._id, self._model, [], None, None, _usage(input_tokens, 1))
        return _event("message_start", {"message": message})

    @staticmethod
    def ping() -> bytes:
        return _event("ping", {})

    @staticmethod
    def block_start(index: int, block: dict[str, object]) -> bytes:
        return _event("content_block_start", {"index": index, "content_block": block})

    @staticmethod
    def text_delta(index: int, text: str) -> bytes:
        delta = {"type": "text_delta", "text": text}
        return _event("content_block_delta", {"index": index, "delta": delta})

    @staticmethod
    def json_delta(index: int, partial_json: str) -> bytes:
        delta = {"type": "input_json_delta", "partial_json": partial_json}
        return _event("content_block_delta", {"index": index, "delta": delta})

    @staticmethod
    def block_stop(index: int) -> bytes:
        return _event("content_block_stop", {"index": index})

    @staticmethod
    def finish(stop_reason: str, stop_sequence: str | None, output_tokens: int) -> bytes:
        """``message_delta`` with the stop reason and the output tokens, then
        ``message_stop``."""
        delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
        usage = {"output_tokens": output_tokens}
        return _event("message_delta", {"delta": delta, "usage": usage}) + _event(
            "message_stop", {}
        )


def _instant(seconds_from_now: float, now: float) -> bytes:
    """RFC 3339, UTC, to the second (rounded up: the budget is full by then)."""
    when = math.ceil(now + max(0.0, seconds_from_now))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)).encode()


def rate_limit_headers(decision: RateDecision, now: float) -> list[tuple[bytes, bytes]]:
    """``anthropic-ratelimit-*`` for the budgets in force; ``now`` is the wall-clock time."""
    out: list[tuple[bytes, bytes]] = []
    budgets: list[tuple[bytes, int, int, float]] = []
    if decision.request_limit:
        budgets.append(
            (
                b"requests",
                decision.request_limit,
                decision.request_remaining,
                decision.request_reset,
            )
        )
    if decision.token_limit:
        tokens = (decision.token_limit, decision.token_remaining, decision.token_reset)
        budgets += [(name, *tokens) for name in (b"tokens", b"input-tokens", b"output-tokens")]
    for name, limit, remaining, reset in budgets:
        head = b"anthropic-ratelimit-" + name
        out += [
            (head + b"-limit", b"%d" % limit),
            (head + b"-remaining", b"%d" % remaining),
            (head + b"-reset", _instant(reset, now)),
        ]
    return out
