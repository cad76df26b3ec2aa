"""A transport for tests: a function answers each request, no network involved.

The handler (sync or async) gets a `Request` and returns a `MockResponse`; it may also raise,
as a failed connection would (``raise ConnectionRefusedError()``). A response body can be
scripted chunk by chunk: bytes are sent, a number pauses that many seconds (virtual time in
sluice's test loop), an exception instance is raised at that point (a failure mid-stream)::

    def handler(request: Request) -> MockResponse:
        if request.json()["messages"][0]["content"] == "boom":
            return MockResponse(503, json={"error": {"message": "busy"}},
                                headers={"retry-after": "2"})
        return MockResponse.sse([{"choices": [...]}, 0.05, ConnectionResetError()])

    client = sluice.llm.Client("http://test/v1", transport=MockTransport(handler))
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias

from ..openai import DONE_EVENT, encode_sse
from ._transport import Request, Response

__all__ = ["MockResponse", "MockTransport"]

Chunk: TypeAlias = bytes | str | float | BaseException
Handler: TypeAlias = Callable[[Request], "MockResponse | Awaitable[MockResponse]"]
_NO_JSON = object()


class MockResponse:
    """A scripted answer: a status, headers and a body given whole (``json=`` or
    ``content=``) or as ``chunks``."""

    def __init__(
        self,
        status: int = 200,
        *,
        json: object = _NO_JSON,
        content: bytes | str = b"",
        chunks: Iterable[Chunk] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        if json is not _NO_JSON:
            content = _dumps(json)
            self.headers.setdefault("content-type", "application/json")
        self.chunks: tuple[Chunk, ...] = (content,) if chunks is None else tuple(chunks)

    @classmethod
    def sse(
        cls,
        events: Iterable[object],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        done: bool = True,
    ) -> MockResponse:
        """A Server-Sent Events stream: each mapping or list becomes one ``data:`` event,
        strings and bytes are sent as they are, numbers pause, exceptions are raised.
        ``done`` appends ``data: [DONE]``."""
        chunks: list[Chunk] = []
        for event in events:
            if isinstance(event, Mapping | list):
                chunks.append(encode_sse(_dumps(event)))
            elif isinstance(event, bytes | str | float | int | BaseException):
                chunks.append(float(event) if isinstance(event, int) else event)
            else:
                raise TypeError(f"MockResponse.sse: cannot send {event!r}")
        if done:
            chunks.append(DONE_EVENT)
        merged = {"content-type": "text/event-stream", **(headers or {})}
        return cls(status, chunks=chunks, headers=merged)

    def __repr__(self) -> str:
        return f"MockResponse({self.status}, {len(self.chunks)} chunk(s))"


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Exchange:
    """One response being delivered; tells its transport when it is released."""

    __slots__ = ("_scripted", "_transport", "closed", "headers", "status")

    def __init__(self, scripted: MockResponse, transport: MockTransport) -> None:
        self._scripted = scripted
        self._transport = transport
        self.status = scripted.status
        self.headers: Mapping[str, str] = scripted.headers
        self.closed = False

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._scripted.chunks:
            if isinstance(chunk, BaseException):
                raise chunk
            if isinstance(chunk, float | int):
                await asyncio.sleep(chunk)
                continue
            data = chunk.encode() if isinstance(chunk, str) else chunk
            if data:
                yield data

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self._transport.open_responses -= 1


class MockTransport:
    """Answers requests with ``handler(request)``; keeps the last requests for assertions
    (``requests``) and counts responses not yet released (``open_responses``)."""

    def __init__(self, handler: Handler, *, keep: int = 1000) -> None:
        if not callable(handler):
            raise TypeError(f"MockTransport(handler) needs a callable, got {handler!r}")
        self._handler = handler
        self.requests: deque[Request] = deque(maxlen=keep)
        self.open_responses = 0
        self.closed = False

    async def send(self, request: Request) -> Response:
        if self.closed:
            raise RuntimeError("MockTransport is closed")
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, MockResponse):
            raise TypeError(
                f"MockTransport handler must return a MockResponse, got {type(answer).__name__}"
            )
        self.open_responses += 1
        return _Exchange(answer, self)

    async def aclose(self) -> None:
        self.closed = True
