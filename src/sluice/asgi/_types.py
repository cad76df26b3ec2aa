"""The ASGI 3 shapes the middlewares speak, and the one way they answer on their own.

An application, middleware included, is called once per connection or request::

    app: ASGIApp = Shed(inner, gates=[gate])        # called as app(scope, receive, send)
    await respond(send, 503, {"error": "overloaded"}, [(b"retry-after", b"2")])
    await respond(send, 504, {"error": "deadline_exceeded"})
    await overloaded(send, "llm", "queue_full", retry_after=2)   # the same 503, the usual body
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "overloaded",
    "respond",
    "under",
    "whole_seconds",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def respond(
    send: Send,
    status: int,
    body: dict[str, object],
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Send a whole response with a small JSON body (the request body is left unread: the
    server discards it)."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def overloaded(send: Send, gate: str, reason: str, retry_after: int) -> None:
    """The 503 a middleware answers for an overloaded gate, with ``Retry-After``."""
    body: dict[str, object] = {
        "error": "overloaded",
        "gate": gate,
        "reason": reason,
        "retry_after": retry_after,
    }
    await respond(send, 503, body, [(b"retry-after", str(retry_after).encode())])


def whole_seconds(seconds: float) -> int:
    """A ``Retry-After`` in whole seconds: rounded up, and at least 1 (0 would invite the
    client straight back)."""
    return max(1, math.ceil(seconds))


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` (without a trailing slash) or below it, by whole
    segments: ``/ask`` covers ``/ask`` and ``/ask/x``, not ``/asked``."""
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")
