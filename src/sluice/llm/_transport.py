"""Where bytes meet the network: the transport protocol and its aiohttp implementation.

A transport is two methods::

    class Transport(Protocol):
        async def send(self, request: Request) -> Response: ...   # returns once headers arrived
        async def aclose(self) -> None: ...

and a `Response` is ``status``, ``headers`` (lowercase names, or matched case-insensitively),
``read()`` for the whole body, ``iter_bytes()`` for a stream, and ``aclose()`` to give the
connection back (closing it instead when the body was not read to the end). Transports report
failures as the built-in ``TimeoutError`` and ``ConnectionError`` / ``OSError`` (or as
`sluice.llm` errors); the client maps them into its error tree. Swap the transport to test
(`MockTransport`) or to route requests elsewhere.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp
from yarl import URL

from ._errors import APIConnectionError, APITimeoutError, ClientClosedError

__all__ = ["AiohttpTransport", "Request", "Response", "Transport", "wrong_loop_error"]

_URL_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request. Its repr leaves the headers out: they carry the API key."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    content: bytes | None = field(default=None, repr=False)

    def json(self) -> Any:
        """The body decoded from JSON (None when there is no body)."""
        return None if self.content is None else json.loads(self.content)


class Response(Protocol):
    """What a transport returns once the status line and headers have arrived."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self) -> bytes:
        """The whole body."""

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body in chunks as they arrive."""

    async def aclose(self) -> None:
        """Release the connection (idempotent)."""


@runtime_checkable
class Transport(Protocol):
    """Sends requests; owns connections."""

    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


def wrong_loop_error(what: str) -> RuntimeError:
    return RuntimeError(
        f"this {what} was first used on another event loop, which owns its connection pool; "
        "an aiohttp session cannot move between loops. Create one client per event loop (for "
        "example inside the coroutine you pass to asyncio.run), or use only the *_sync methods "
        "from synchronous code"
    )


def _translate(exc: BaseException, request: Request) -> Exception | None:
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's ServerTimeoutError included
        return APITimeoutError(f"{request.method} {request.url}: timed out ({exc or 'no data'})")
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = str(exc) or type(exc).__name__
        return APIConnectionError(f"{request.method} {request.url}: {detail}")
    return None


class _AiohttpResponse:
    __slots__ = ("_request", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, request: Request) -> None:
        self._response = response
        self._request = request
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except Exception as exc:
            error = _translate(exc, self._request)
            if error is None:
                raise
            raise error from exc

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        content = self._response.content
        while True:
            try:
                chunk = await content.readany()
            except Exception as exc:
                error = _translate(exc, self._request)
                if error is None:
                    raise
                raise error from exc
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        # release() keeps the connection only when the body was read to the end; a stream
        # abandoned halfway has its connection closed, so no half-read socket is reused.
        self._response.release()


class AiohttpTransport:
    """The default transport: one aiohttp session with a bounded keep-alive pool.

    The session is created on first use, on the running event loop, and belongs to it: using
    the transport from another loop raises a clear error instead of corrupting the pool.

        transport = AiohttpTransport(max_connections=200, connect_timeout=5.0)
        client = sluice.llm.Client("http://127.0.0.1:8000/v1", transport=transport)

    Args:
        max_connections: open connections at most (requests beyond wait for one).
        connect_timeout: seconds to establish a connection.
        read_timeout: seconds without any byte from the server before giving up (None: no
            limit; a non-streamed completion sends nothing until it is done, so the gate's
            attempt timeout is the usual bound).
        keepalive: seconds an idle connection stays open for reuse.
        trust_env: honour ``HTTP(S)_PROXY`` / ``NO_PROXY`` and ``.netrc`` (off by default).
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = None,
        keepalive: float = 30.0,
        trust_env: bool = False,
    ) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError(f"max_connections must be an int >= 1, got {max_connections!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        self.max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._keepalive = keepalive
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._urls: dict[str, URL] = {}

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and self._loop is loop:
            return session
        if self._closed:
            raise ClientClosedError("the transport is closed")
        if session is not None:
            raise wrong_loop_error("transport")
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, limit_per_host=0, keepalive_timeout=self._keepalive
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            trust_env=self._trust_env,
            raise_for_status=False,
        )
        self._session, self._loop = session, loop
        return session

    def _url(self, text: str) -> URL:
        # Parsing a URL costs more than the rest of a small request's client-side work.
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[text] = URL(text)
        return url

    async def send(self, request: Request) -> Response:
        session = self._session_here()
        try:
            response = await session.request(
                request.method,
                self._url(request.url),
                data=request.content,
                headers=request.headers,
            )
        except Exception as exc:
            error = _translate(exc, request)
            if error is None:
                raise
            raise error from exc
        return _AiohttpResponse(response, request)

    async def aclose(self) -> None:
        """Close the pool (on the loop it belongs to)."""
        self._closed = True
        session, self._session = self._session, None
        if session is None:
            return
        if self._loop is not asyncio.get_running_loop():
            self._session = session
            raise wrong_loop_error("transport")
        await session.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._session is not None else "idle"
        return f"AiohttpTransport(max_connections={self.max_connections}, {state})"
