"""Server-Sent Events, both ways: an incremental decoder (bytes in, events out, any
chunking) and the encoder that frames one event.

Lines may end in ``\\n``, ``\\r\\n`` or ``\\r`` (a ``\\r\\n`` split across chunks included);
``data:`` lines of one event are joined with ``\\n``; comments (``: ping``) are skipped.
Event data stays ``bytes``: ``json.loads`` takes bytes directly, so nothing is decoded twice.
An OpenAI stream ends with the event whose data is `DONE`.

What the decoder holds between events is bounded: an event (all its lines, and the line still
arriving) larger than ``max_event_size`` raises `EventTooLarge`, so a server sending lines
without ever ending an event cannot grow it without limit.

    decoder = SSEDecoder()
    for event in decoder.feed(encode_sse(b'{"a": 1}') + b"da"):
        print(event.data)        # b'{"a": 1}'
    decoder.feed(b"ta: [DONE]\\n\\n")  # [ServerSentEvent(data=b'[DONE]', event=None)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DONE",
    "DONE_EVENT",
    "MAX_EVENT_SIZE",
    "EventTooLarge",
    "SSEDecoder",
    "ServerSentEvent",
    "encode_sse",
]

MAX_EVENT_SIZE = 16 * 1024 * 1024
"""The default bound on one event: a stream chunk of an LLM answer is a few hundred bytes, and
even an answer sent whole in one event is far below it."""
_LINE_END = re.compile(rb"\r\n|\r|\n")

DONE = b"[DONE]"
"""The data of the event that ends an OpenAI stream."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event: its ``data`` (lines joined by ``\\n``) and ``event`` type."""

    data: bytes
    event: str | None = None


class EventTooLarge(ValueError):
    """An event grew past the decoder's ``max_event_size`` before it ended."""


class SSEDecoder:
    """Turns a byte stream into events; keeps only the unfinished event between chunks.

    decoder = SSEDecoder(max_event_size=1024 * 1024)   # EventTooLarge beyond 1 MiB
    """

    __slots__ = ("_buffer", "_data", "_event", "_limit", "_size", "_skip_lf")

    def __init__(self, max_event_size: int = MAX_EVENT_SIZE) -> None:
        if isinstance(max_event_size, bool) or not isinstance(max_event_size, int):
            raise TypeError(f"max_event_size must be an int, got {max_event_size!r}")
        if max_event_size < 1:
            raise ValueError(f"max_event_size must be >= 1 byte, got {max_event_size!r}")
        self._limit = max_event_size
        self._buffer = b""
        self._data: list[bytes] = []
        self._size = 0  # bytes of the data lines of the event being read
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
            self._check(len(data))
            self._buffer = data
            return []
        self._buffer = data[end + 1 :]
        if data[end] == 13:  # "\r": a "\n" opening the next chunk belongs to it
            self._skip_lf = True
        events = self._lines(data[: end + 1].splitlines())
        self._check(len(self._buffer))
        return events

    def flush(self) -> list[ServerSentEvent]:
        """At the end of the stream: the last event, even without its closing blank line
        (lenient on purpose: a cut-off event then fails loudly in the JSON decoder)."""
        lines = [self._buffer] if self._buffer else []
        self._buffer = b""
        lines.append(b"")
        return self._lines(lines)

    def _check(self, unfinished: int) -> None:
        """Refuse an event whose lines so far, and the line still arriving, exceed the limit."""
        if self._size + unfinished > self._limit:
            self._buffer, self._data, self._size = b"", [], 0
            raise EventTooLarge(
                f"a server-sent event exceeds {self._limit} bytes (max_event_size) before its "
                "end; a stream of LLM answers never sends one this large"
            )

    def _lines(self, lines: list[bytes]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        pending = self._data
        for line in lines:
            if not line:
                if pending:
                    events.append(ServerSentEvent(b"\n".join(pending), self._event))
                    pending = self._data = []
                    self._size = 0
                self._event = None
            elif line[0] == 58:  # ":" starts a comment (keep-alive pings)
                continue
            else:
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    pending.append(value)
                    self._size += len(value) + 1
                    if self._size > self._limit:
                        self._check(0)
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
