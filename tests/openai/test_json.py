"""JSON bodies: written compact in UTF-8, read as one object, errors as the standard ones."""

from __future__ import annotations

import json

import pytest

from sluice.openai import (
    ShapeError,
    decode_object,
    encode_json,
    encode_json_ascii,
)


def test_encoding_is_compact_utf8_and_reads_back() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": 'héllo "x"\n'}], "n": 1.5}
    encoded = encode_json(body)
    assert encoded == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert decode_object(encoded) == body


@pytest.mark.parametrize(
    "value",
    [
        {"content": 'héllo "x"\n\u2028 \U0001f600', "n": 1.5, "big": 10**30, "neg": -0.0},
        {"nan": float("nan"), "inf": [float("inf"), float("-inf")], "t": True, "f": None},
        ["\x00\x1f", "\ud800", {}, [], 1e-7, 12345678901234567.0],
        "just a string é",
    ],
)
def test_the_ascii_encoding_is_json_dumps_bytes(value: object) -> None:
    assert encode_json_ascii(value) == json.dumps(value, separators=(",", ":")).encode()


def test_what_json_cannot_hold_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="a set is not JSON serializable"):
        encode_json({"tools": {1, 2}})
    looped: dict[str, object] = {}
    looped["self"] = looped
    with pytest.raises((ValueError, RecursionError)):
        encode_json(looped)
    assert encode_json({"ok": True}) == b'{"ok":true}'  # the encoder is still usable


@pytest.mark.parametrize(
    "body",
    [b' {"a": 1}', b'{"a": 1}\n ', '\ufeff{"a": 1}'.encode(), '{"a": 1}'.encode("utf-16")],
)
def test_whitespace_and_other_encodings_are_read_like_json_loads(body: bytes) -> None:
    assert decode_object(body) == {"a": 1}


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": 1,}', b'{"a": 1} x', b"\xff{}", b"nope"])
def test_what_is_not_json_raises_the_standard_errors(body: bytes) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011 - the standard decoders' own errors
        decode_object(body)
    assert not isinstance(info.value, ShapeError)


@pytest.mark.parametrize("body", [b"[1]", b'"text"', b"null", b"3"])
def test_json_that_is_not_an_object_is_a_shape_error(body: bytes) -> None:
    with pytest.raises(ShapeError, match=r"^a stream event is not a JSON object$"):
        decode_object(body, "a stream event")


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_json_nested_beyond_the_stack_is_a_shape_error(opening: bytes) -> None:
    closing = b"]" if opening == b"[" else b"}"
    body = b'{"choices":' + opening * 100_000 + b"1" + closing * 100_000 + b"}"
    with pytest.raises(ShapeError, match="the body nests JSON arrays or objects too deeply"):
        decode_object(body)
    with pytest.raises(ShapeError, match="an event nests"):
        decode_object(b" " + body, "an event")  # the standard decoder's path
