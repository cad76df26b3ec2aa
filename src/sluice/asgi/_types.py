"""The ASGI 3 shapes the middlewares speak, and the one way they answer on their own.

An application, middleware included, is called once per connection or request::

    app: ASGIApp = Shed(inner, gates=[gate])        # called as app(scope, receive, send)
    await respond(send, 503, {"error": "overloaded"}, [(b"retry-after", b"2")])
    await respond(send, 504, {"error": "deadline_exceeded"})
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "respond"]

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
