"""Error answers: ``{"error": {"message", "type", "param", "code"}}``, written and read.

Reading is lenient, because proxies and other servers answer errors in their own shapes:
``{"error": "..."}``, ``{"detail": ...}``, ``{"message": ...}``, or plain text, taken as the
message. Writing always gives OpenAI's shape, every field present::

    body = encode_error("Rate limit reached", "requests", code="rate_limit_exceeded")
    decode_error(body).code        # "rate_limit_exceeded"
    decode_error(b"Bad Gateway")   # ErrorBody(message="Bad Gateway", ...)
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ._types import ErrorBody

__all__ = ["decode_error", "encode_error", "error_fields"]

_EXCERPT = 200  # bytes of a plain-text error kept as its message


def encode_error(
    message: str, type: str, *, param: str | None = None, code: str | None = None
) -> bytes:
    """An error body as OpenAI sends it."""
    payload = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return json.dumps(payload).encode()


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return str(value)
    except RecursionError:  # a list or object nested beyond what repr() can walk
        return f"(a JSON {type(value).__name__} nested too deeply to show)"


def decode_error(body: bytes) -> ErrorBody:
    """The fields of an error body in any of the usual shapes (never raises)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (nor UTF-8), or nested beyond the stack
        text = body[:_EXCERPT].decode("utf-8", "replace").strip()
        return ErrorBody(text or None)
    return error_fields(data)


def error_fields(data: object) -> ErrorBody:
    """The fields of an error body already decoded from JSON (never raises)."""
    if not isinstance(data, Mapping):
        return ErrorBody(_text(data))
    error = data.get("error", data)
    if not isinstance(error, Mapping):
        return ErrorBody(_text(error))
    return ErrorBody(
        _text(error.get("message", error.get("detail"))),
        type=_text(error.get("type")),
        param=_text(error.get("param")),
        code=_text(error.get("code")),
    )
