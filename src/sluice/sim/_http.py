"""The HTTP/1.1 protocol the simulator serves with: uvicorn's httptools protocol, plus a
deadline and a size limit for each request's line and headers, and its own errors in
OpenAI's JSON shape.

uvicorn closes a keep-alive connection that stays idle after an answer (``timeout_keep_alive``),
but nothing bounds a connection that never sends a request, or sends its headers a byte at a
time; and httptools buffers headers of any length. Here a connection has ``header_timeout``
seconds, from its opening or from its previous answer, to complete a request's headers, which
may take ``max_header_bytes`` at most: otherwise it gets a 408 or 431 (or, when it has sent
nothing at all, is simply closed). Malformed HTTP gets a JSON 400 instead of plain text.

    protocol = guarded_protocol(header_timeout=10.0, max_header_bytes=65536)
    uvicorn.Config(app, http=protocol)
"""

from __future__ import annotations

import asyncio
import http
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..openai import encode_error

__all__ = ["guarded_protocol"]


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request whose head is too large."""


class _GuardedProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    max_header_bytes = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        # Two measures of a request's head. Parsed: its line and headers as httptools hands
        # them over. Received: bytes that arrived while it was incomplete, which httptools
        # may be holding unparsed (a header line without its end); they include up to one
        # read of what follows, a small overshoot.
        self._head_size = 0
        self._reading_head = True
        self._head_bytes = 0
        self._head_too_large = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.max_header_bytes:
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._grow_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._grow_head(len(name) + len(value))

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.max_header_bytes:
            self._head_too_large = True
            raise _HeadTooLarge  # uvicorn takes it for a parser error: send_400_response

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # a next request whose headers are already in
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._arm()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to bytes httptools cannot parse, in plain text: ours is JSON.
        if self._head_too_large:
            self._refuse_head()
        else:
            self._refuse(400, msg, None)

    def _refuse_head(self) -> None:
        self._refuse(
            431,
            f"The request line and headers are larger than the simulator accepts "
            f"({self.max_header_bytes} bytes, its max_header_bytes setting).",
            "request_header_fields_too_large",
        )

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_bytes == 0:  # nothing sent at all: an idle connection, closed quietly
            self.transport.close()
            return
        self._refuse(
            408,
            f"The request headers did not arrive within {self.header_timeout:g} s (the "
            "simulator's header_timeout setting).",
            "request_timeout",
        )

    def _refuse(self, status: int, message: str, code: str | None) -> None:
        """Answer ``status`` with a JSON error, unless an answer is under way, and close."""
        self._reading_head = False
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            body = encode_error(message, "invalid_request_error", code=code)
            self.transport.write(_response(status, body, self.server_state.default_headers))
        self.transport.close()


def _response(status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> bytes:
    phrase = http.HTTPStatus(status).phrase.encode()
    head = [b"HTTP/1.1 %d %s\r\n" % (status, phrase)]
    head += [name + b": " + value + b"\r\n" for name, value in extra]
    head.append(b"content-type: application/json\r\n")
    head.append(b"content-length: %d\r\n" % len(body))
    head.append(b"connection: close\r\n\r\n")
    return b"".join(head) + body


def guarded_protocol(*, header_timeout: float, max_header_bytes: int) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's ``http`` setting, with these limits."""

    class SimHttpProtocol(_GuardedProtocol):
        pass

    SimHttpProtocol.header_timeout = header_timeout
    SimHttpProtocol.max_header_bytes = max_header_bytes
    return SimHttpProtocol
