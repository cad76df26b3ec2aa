"""The SSE decoder: any chunking gives the same events."""

from __future__ import annotations

import pytest

from sluice.openai import (
    DONE,
    DONE_EVENT,
    MAX_EVENT_SIZE,
    EventTooLarge,
    ServerSentEvent,
    SSEDecoder,
    encode_sse,
)

STREAM = (
    b": keep-alive\n\n"
    b'data: {"a": 1}\n\n'
    b"event: error\r\ndata: line one\r\ndata: line two\r\n\r\n"
    b"data:no-space\r\rdata: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent(b'{"a": 1}'),
    ServerSentEvent(b"line one\nline two", "error"),
    ServerSentEvent(b"no-space"),
    ServerSentEvent(b"[DONE]"),
]


def decode(pieces: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.flush()


def test_whole() -> None:
    assert decode([STREAM]) == EXPECTED


def test_byte_by_byte() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@pytest.mark.parametrize("size", [2, 3, 5, 7, 13])
def test_any_split(size: int) -> None:
    assert decode([STREAM[i : i + size] for i in range(0, len(STREAM), size)]) == EXPECTED


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [ServerSentEvent(b"a\nb")]


def test_flush_dispatches_an_unterminated_last_event() -> None:
    assert decode([b"data: [DONE]"]) == [ServerSentEvent(b"[DONE]")]
    assert decode([b"data: x\n"]) == [ServerSentEvent(b"x")]
    assert decode([b""]) == []


def test_fields_other_than_data_and_event_are_ignored() -> None:
    assert decode([b"id: 7\nretry: 10\nfoo\ndata: x\n\n"]) == [ServerSentEvent(b"x")]


def test_a_line_without_end_is_bounded() -> None:
    decoder = SSEDecoder()
    for _ in range(16):
        decoder.feed(b"x" * 1024 * 1024)
    with pytest.raises(EventTooLarge, match="exceeds 16777216 bytes"):
        decoder.feed(b"x")


def test_an_event_of_many_short_lines_is_bounded() -> None:
    # Lines end, but no blank line ever ends the event: what it holds grows line by line.
    decoder = SSEDecoder(max_event_size=64 * 1024)
    line = b"data: " + b"x" * 1000 + b"\n"
    for _ in range(65):  # 65 lines of 1001 bytes: 65,065 bytes, under 64 KiB
        assert decoder.feed(line) == []
    with pytest.raises(EventTooLarge, match="max_event_size"):
        decoder.feed(line)
    # The decoder gave up what it held, and reads a stream that behaves.
    assert decoder.feed(b"\ndata: ok\n\n") == [ServerSentEvent(b"ok")]


def test_events_up_to_the_limit_pass_and_the_count_restarts_with_each_event() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    event = b"data: " + b"y" * 450 + b"\ndata: " + b"z" * 450 + b"\n\n"
    for _ in range(100):  # 100 events of 901 bytes: 90 KB in all, none over 1000 bytes
        assert decoder.feed(event) == [ServerSentEvent(b"y" * 450 + b"\n" + b"z" * 450)]
    assert MAX_EVENT_SIZE == 16 * 1024 * 1024


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_a_bad_limit_is_refused(size: object) -> None:
    with pytest.raises((TypeError, ValueError), match="max_event_size"):
        SSEDecoder(max_event_size=size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "event"),
    [
        (b'{"a": 1}', None),
        (b"", None),
        (b" leading space", "ping"),
        (b"one\ntwo\r\nthree\rfour", None),
        (b"ends with a line end\n", "error"),
        (b"\n\n", None),
        (b": not a comment", None),
    ],
)
def test_encoded_events_decode_to_what_was_encoded(data: bytes, event: str | None) -> None:
    encoded = encode_sse(data, event)
    assert encoded.endswith(b"\n\n")
    expected = [ServerSentEvent(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"), event)]
    assert decode([encoded]) == expected
    assert decode([encoded[i : i + 1] for i in range(len(encoded))]) == expected


def test_encoded_events_in_a_row() -> None:
    stream = encode_sse(b"a") + encode_sse(b"b\nc", "x") + DONE_EVENT
    assert DONE_EVENT == b"data: [DONE]\n\n"
    assert decode([stream]) == [
        ServerSentEvent(b"a"),
        ServerSentEvent(b"b\nc", "x"),
        ServerSentEvent(DONE),
    ]


def test_an_event_type_on_two_lines_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot span lines"):
        encode_sse(b"x", "a\nb")
