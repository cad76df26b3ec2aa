"""Server-Sent Events, both ways: an incremental decoder (bytes in, events out, any
chunking) and the encoder that frames one event.

Lines may end in ``\\n``, ``\\r\\n`` or ``\\r`` (a ``\\r\\n`` split across chunks included);
``data:`` lines of one event are joined with ``\\n``; comments (``: ping``) are skipped.
Event data stays ``bytes``: ``json.loads`` takes bytes directly, so nothing is decoded twice.
An OpenAI stream ends with the event whose data is `DONE`.

    decoder = SSEDecoder()
    for event in decoder.feed(encode_sse(b'{"a": 1}') + b"da"):
        print(event.data)        # b'{"a": 1}'
    decoder.feed(b"ta: [DONE]\\n\\n")  # [ServerSentEvent(data=b'[DONE]', event=None)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DONE", "DONE_EVENT", "SSEDecoder", "ServerSentEvent", "encode_sse"]

_MAX_PENDING = 16 * 1024 * 1024  # one event larger than this is not an LLM stream
_LINE_END = re.compile(rb"\r\n|\r|\n")

DONE = b"[DONE]"
"""The data of the event that ends an OpenAI stream."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event: its ``data`` (lines joined by ``\\n``) and ``event`` type."""

    data: bytes
    event: str | None = None


class SSEDecoder:
    """Turns a byte stream into events; keeps only the unfinished line between chunks."""

    __slots__ = ("_buffer", "_data", "_event", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event: str | None = None
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Events completed by ``chunk``, in order."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":  # the second half of a "\r\n" cut between chunks
                chunk = chunk[1:]
        data = self._buffer + chunk if self._buffer else chunk
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end < 0:
            if len(data) > _MAX_PENDING:
                raise ValueError(f"a server-sent event line exceeds {_MAX_PENDING} bytes")
            self._buffer = data
            return []
        self._buffer = data[end + 1 :]
        if data[end] == 13:  # "\r": a "\n" opening the next chunk belongs to it
            self._skip_lf = True
        return self._lines(data[: end + 1].splitlines())

    def flush(self) -> list[ServerSentEvent]:
        """At the end of the stream: the last event, even without its closing blank line
        (lenient on purpose: a cut-off event then fails loudly in the JSON decoder)."""
        lines = [self._buffer] if self._buffer else []
        self._buffer = b""
        lines.append(b"")
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        pending = self._data
        for line in lines:
            if not line:
                if pending:
                    events.append(ServerSentEvent(b"\n".join(pending), self._event))
                    pending = self._data = []
                self._event = None
            elif line[0] == 58:  # ":" starts a comment (keep-alive pings)
                continue
            else:
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    pending.append(value)
                elif name == b"event":
                    self._event = value.decode("utf-8", "replace")
                # "id" and "retry" steer browser reconnection, which does not apply here.
        return events


def encode_sse(data: bytes, event: str | None = None) -> bytes:
    """One event, framed: a ``data:`` line per line of ``data``, then a blank line.

    `SSEDecoder` gives back ``event`` and ``data``, each line end in it as ``\\n`` (SSE knows
    no other).
    """
    if event is not None and ("\n" in event or "\r" in event):
        raise ValueError(f"an event type cannot span lines, got {event!r}")
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    if b"\n" not in data and b"\r" not in data:  # the usual case: one JSON object
        return head + b"data: " + data + b"\n\n"
    lines = b"".join(b"data: " + line + b"\n" for line in _LINE_END.split(data))
    return head + lines + b"\n"


DONE_EVENT = encode_sse(DONE)
"""``data: [DONE]``, framed."""
