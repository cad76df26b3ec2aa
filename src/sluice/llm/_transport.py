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
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp
from yarl import URL

from .. import ConfigError
from .._validate import check_int_at_least, check_optional_positive, check_positive
from ._errors import APIConnectionError, APITimeoutError, ClientClosedError, ResponseTooLargeError

__all__ = [
    "MAX_BODY_SIZE",
    "AiohttpTransport",
    "Request",
    "Response",
    "Transport",
    "wrong_loop_error",
]

_URL_CACHE_SIZE = 256

MAX_BODY_SIZE = 256 * 1024 * 1024
"""The default bound on a response body read whole: the largest answers of the API (2,048
embeddings of 3,072 dimensions as JSON numbers, about 130 MB) fit; an endless body does not."""


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
        f"this {what} was first used on another event loop, which still runs and owns its "
        "connection pool; an aiohttp session cannot move between loops. Use the transport "
        "through a sluice.llm.Client (which hands calls to the owning loop), or one transport "
        "per loop"
    )


def _translate(exc: BaseException, request: Request) -> Exception | None:
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's ServerTimeoutError included
        return APITimeoutError(f"{request.method} {request.url}: timed out ({exc or 'no data'})")
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = str(exc) or type(exc).__name__
        return APIConnectionError(f"{request.method} {request.url}: {detail}")
    return None


class _AiohttpResponse:
    __slots__ = ("_limit", "_request", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, request: Request, limit: int) -> None:
        self._response = response
        self._request = request
        self._limit = limit
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        headers = self.headers
        length = headers.get("Content-Length")
        try:
            # The usual answer: its length declared, not compressed (a compressed body may
            # inflate far beyond its declared length), within the limit: read it at once.
            if length is not None and "Content-Encoding" not in headers and length.isdigit():
                if int(length) > self._limit:
                    raise self._too_large(f"declares {length} bytes")
                return await self._response.read()
            return await self._read_bounded()
        except Exception as exc:
            error = _translate(exc, self._request)
            if error is None:
                raise
            raise error from exc

    async def _read_bounded(self) -> bytes:
        """The body, chunk by chunk, refused as soon as it passes the limit."""
        content = self._response.content
        parts = []
        size = 0
        while chunk := await content.readany():
            size += len(chunk)
            if size > self._limit:
                raise self._too_large(f"sent more than {self._limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def _too_large(self, what: str) -> ResponseTooLargeError:
        request = self._request
        return ResponseTooLargeError(
            f"HTTP {self.status} from {request.url}: the response body {what}, over "
            f"max_body_size={self._limit} (raise AiohttpTransport(max_body_size=...) if the "
            "answer is a real one)",
            status=self.status,
            message=f"the response body {what}",
        )

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
        max_body_size: bytes of a response body read whole (not a stream's) beyond which the
            answer is refused with `ResponseTooLargeError` (default 256 MiB).
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = None,
        keepalive: float = 30.0,
        trust_env: bool = False,
        max_body_size: int = MAX_BODY_SIZE,
    ) -> None:
        owner = "AiohttpTransport"
        self.max_connections = check_int_at_least(owner, "max_connections", max_connections, 1)
        self.max_body_size = check_int_at_least(owner, "max_body_size", max_body_size, 1)
        if not isinstance(trust_env, bool):
            raise ConfigError(f"{owner}(trust_env=...) must be True or False, got {trust_env!r}")
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=check_optional_positive(owner, "connect_timeout", connect_timeout),
            sock_read=check_optional_positive(owner, "read_timeout", read_timeout),
        )
        self._keepalive = check_positive(owner, "keepalive", keepalive)
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._watcher: AsyncGenerator[None, None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._urls: dict[str, URL] = {}

    async def _open(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        """The pool for ``loop``, made now: the first use, or after the pool's loop ended."""
        if self._closed:
            raise ClientClosedError("the transport is closed")
        if self._session is not None:
            assert self._loop is not None  # set with the session
            if not self._loop.is_closed():
                raise wrong_loop_error("transport")
            await self._drop_stranded()
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
        watcher = self._watcher = self._watch(session)
        await anext(watcher)
        return session

    async def _watch(self, session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
        """Closes ``session`` when it is closed, or else when its loop shuts down: an event
        loop finalizes the async generators still open before it closes (asyncio.run does),
        so a pool left open by its user is still closed on its own loop."""
        try:
            yield
        finally:
            if self._session is session:
                self._session = self._watcher = None
            await session.close()

    async def _drop_stranded(self) -> None:
        """The pool's loop was closed without finalizing it (its sockets then close only when
        collected): drop it, and say so."""
        warnings.warn(
            "sluice.llm: the event loop a connection pool belonged to was closed before the "
            "pool, so its open connections could not be closed cleanly (they are closed when "
            "garbage-collected). Close the client on its loop before that loop ends ('async "
            "with Client(...)'), or end the loop with asyncio.run() or "
            "loop.shutdown_asyncgens(), which close it",
            RuntimeWarning,
            stacklevel=3,
        )
        watcher = self._watcher
        self._session = self._watcher = None
        if watcher is not None:
            await watcher.aclose()  # marks the pool closed; its dead loop is never touched

    def _url(self, text: str) -> URL:
        # Parsing a URL costs more than the rest of a small request's client-side work.
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[text] = URL(text)
        return url

    async def send(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or self._loop is not loop:
            session = await self._open(loop)
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
        return _AiohttpResponse(response, request, self.max_body_size)

    async def aclose(self) -> None:
        """Close the pool, on the loop it belongs to (if that loop has ended, the pool was
        closed with it, or is dropped with a warning)."""
        self._closed = True
        watcher = self._watcher
        if self._session is None or watcher is None:
            return  # never opened, or closed already (by its loop's shutdown, say)
        loop = self._loop
        assert loop is not None  # set with the session
        if loop.is_closed():
            await self._drop_stranded()
        elif loop is not asyncio.get_running_loop():
            raise wrong_loop_error("transport")
        else:
            self._session = self._watcher = None
            await watcher.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._session is not None else "idle"
        return f"AiohttpTransport(max_connections={self.max_connections}, {state})"
