"""Request bodies as the simulator takes them in: bounded in size and in time, and decoded
as strict JSON.

Whatever a client sends, reading and decoding either succeed or raise `RequestError` with
a 4xx status: 413 for a body over the size limit (announced or actual), 408 for one that does
not arrive in time, 400 for bytes that are not UTF-8, text that is not JSON (``NaN`` and
``Infinity``, which Python's decoder would let through, included; so is a number too large
for a double, such as ``1e400``), nesting deeper than the decoder can follow, lone UTF-16
surrogates (``"\\ud800"``: valid JSON, but no character), or JSON that is not an object.
Every value a body holds is therefore one JSON can write back.

    raw = await read_body(scope, receive, max_bytes=1 << 20, time_limit=30.0)
    body = decode_json(raw)      # a dict, or RequestError(400, ...)
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from ._exchange import Receive, Scope
from ._json import loads
from ._request_error import RequestError

__all__ = ["decode_json", "read_body"]

# JSON spells a surrogate only as an escape: the decoder pairs a high and a low one into
# one character and lets a lone one through, which then cannot be encoded.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server has judged the header already
    return None


def _too_large(max_bytes: int) -> RequestError:
    return RequestError(
        413,
        f"The request body is larger than the simulator accepts ({max_bytes} bytes, "
        "its max_body_bytes setting).",
        code="request_too_large",
        close=True,
    )


async def read_body(
    scope: Scope, receive: Receive, *, max_bytes: int, time_limit: float
) -> bytes | None:
    """The whole body, or None if the client left first."""
    declared = _declared_length(scope)
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)
    try:
        async with asyncio.timeout(time_limit):
            return await _gather(receive, max_bytes)
    except TimeoutError:
        raise RequestError(
            408,
            f"The request body did not arrive within {time_limit:g} s (the simulator's "
            "body_timeout setting).",
            code="request_timeout",
            close=True,
        ) from None


async def _gather(receive: Receive, max_bytes: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if not more and not chunks:
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
            return body
        chunks.append(body)
        size += len(body)
        if size > max_bytes:
            raise _too_large(max_bytes)
        if not more:
            return b"".join(chunks)


def _invalid(message: str) -> RequestError:
    return RequestError(400, f"We could not parse the JSON body of your request: {message}.")


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is too large for a double")
    return value


def decode_json(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``, strictly UTF-8; `RequestError` (400) for anything else."""
    value = loads(raw)
    if type(value) is dict:  # orjson read it, exactly as the standard library would have
        return value
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"it is not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise _invalid("it is nested too deeply") from None
    except ValueError as exc:
        raise _invalid(f"it is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        got = _JSON_KINDS.get(type(value), "something else")
        raise RequestError(400, f"The request body must be a JSON object, got {got}.")
    if _SURROGATE_ESCAPE.search(raw) and _holds_lone_surrogate(value):
        raise _invalid("a string holds a lone UTF-16 surrogate escape, which is no character")
    return value


def _holds_lone_surrogate(value: object) -> bool:
    # Without recursion: the decoder accepts nesting deeper than a recursive walk could go.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
