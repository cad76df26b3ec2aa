"""Tiny hand-written ASGI applications and a client for the middleware tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

import sluice
from sluice.asgi._types import ASGIApp, Message, Receive, Scope, Send

Handler = Callable[[], Awaitable[object]]


async def reply(send: Send, status: int, body: object) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": payload})


def app_of(handler: Handler) -> ASGIApp:
    """An app answering 200 with ``{"remaining": ..., "result": ...}`` (the time left read
    before the handler runs), or 500 ``{"error": ...}`` when the handler raises a
    `sluice.RejectedError` (the app's own error handling)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        remaining = sluice.time_remaining()
        try:
            result = await handler()
        except sluice.RejectedError as exc:
            await reply(send, 500, {"error": type(exc).__name__})
            return
        await reply(send, 200, {"remaining": remaining, "result": result})

    return app


async def ok() -> str:
    return "ok"


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def now() -> float:
    return asyncio.get_running_loop().time()


class Recorder:
    """A hand-made ``receive`` and ``send``: what the app sent, in order."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> Any:
        return self.sent[0]["status"] if self.sent else None


def http_scope(path: str = "/", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
    }
