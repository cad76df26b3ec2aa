"""Error bodies: OpenAI's shape written, and every usual shape read."""

from __future__ import annotations

import json

import pytest

from sluice.openai import ErrorBody, decode_error, encode_error
from sluice.openai._error_body import error_fields


def test_encoded_error_has_every_field_and_reads_back() -> None:
    body = encode_error("Rate limit reached", "requests", code="rate_limit_exceeded")
    assert json.loads(body) == {
        "error": {
            "message": "Rate limit reached",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert decode_error(body) == ErrorBody(
        "Rate limit reached", type="requests", code="rate_limit_exceeded"
    )
    assert decode_error(encode_error("bad", "invalid_request_error", param="model")).param == (
        "model"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": "plain string"}', ErrorBody("plain string")),
        (b'{"detail": "not found"}', ErrorBody("not found")),
        (b'{"message": "busy", "code": 503}', ErrorBody("busy", code="503")),
        (b'{"error": {"detail": "d", "type": "t"}}', ErrorBody("d", type="t")),
        (b'["not", "an", "object"]', ErrorBody("['not', 'an', 'object']")),
        (b"Bad Gateway\n", ErrorBody("Bad Gateway")),
        (b"", ErrorBody(None)),
        (b"\xff\xfe", ErrorBody("\ufffd\ufffd")),
    ],
)
def test_other_shapes_are_read_leniently(body: bytes, expected: ErrorBody) -> None:
    assert decode_error(body) == expected


def test_a_long_plain_text_error_is_cut() -> None:
    assert decode_error(b"x" * 1000).message == "x" * 200


def test_an_error_body_nested_beyond_the_stack_is_read_as_text() -> None:
    deep = b'{"error":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    fields = decode_error(deep)
    assert fields.message is not None
    assert fields.message.startswith('{"error":[[[')
    assert len(fields.message) <= 200


def test_an_error_message_too_deep_to_show_is_named() -> None:
    nested: list[object] = []
    for _ in range(100_000):  # built without the decoder: deeper than repr() can walk
        nested = [nested]
    assert error_fields({"error": {"message": nested}}).message == (
        "(a JSON list nested too deeply to show)"
    )
