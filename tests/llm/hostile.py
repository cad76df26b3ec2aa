"""Small misbehaving HTTP servers on loopback, for the client's defences. Each connection is
served for a few seconds at most and sends a bounded number of bytes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

Answer = Callable[[asyncio.StreamWriter, "Sent"], Awaitable[None]]

CAP = 256 * 1024 * 1024  # no server here ever sends more than this


@dataclass
class Sent:
    """What the server sent, and the requests it read (head and body)."""

    bytes: int = 0
    requests: list[bytes] | None = None

    async def write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if self.bytes + len(data) > CAP:
            raise ConnectionError("the test server's cap was reached")
        writer.write(data)
        self.bytes += len(data)
        await writer.drain()


@contextlib.asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[tuple[str, Sent]]:
    """A server answering every request with ``answer``; yields its API base URL."""
    sent = Sent(requests=[])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10.0):
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                assert sent.requests is not None
                sent.requests.append(head + body)
                await answer(writer, sent)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client hung up, as it should
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", sent
    finally:
        server.close()
        await server.wait_closed()


def head(status: int = 200, **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X".encode()]
    lines += [f"{name.replace('_', '-')}: {value}".encode() for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port bound but never listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
