"""JSON as the API carries it: request bodies written once, answers read once.

Both ends of every call pay for JSON, so these skip what ``json.dumps`` and ``json.loads``
redo on each call: building an encoder, and guessing the encoding of bytes that are UTF-8.

    encode_json({"model": "m", "messages": []})   # b'{"model":"m","messages":[]}'
    decode_object(b'{"id": "chatcmpl-1"}')        # {"id": "chatcmpl-1"}
    decode_object(b"[1]")                          # ShapeError: the body is not a JSON object
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
from collections.abc import Callable
from typing import Any

from ._decode import ShapeError

__all__ = ["decode_object", "encode_json", "encode_json_ascii"]

_WHITESPACE = " \t\n\r"


def _refuse(value: object) -> object:
    raise TypeError(f"a {type(value).__name__} is not JSON serializable")


def _c_encoder(ascii: bool) -> Callable[[object], str] | None:
    """CPython's C encoder, compact, made once (``json.dumps`` makes a new one per call);
    ``ascii``: non-ASCII text escaped (as ``json.dumps`` does by default), else kept.
    Without circular-reference tracking: a body that contains itself ends in RecursionError
    instead of ValueError."""
    make = getattr(json.encoder, "c_make_encoder", None)
    name = "c_encode_basestring_ascii" if ascii else "c_encode_basestring"
    text = getattr(json.encoder, name, None)
    if make is None or text is None:  # pragma: no cover - another interpreter
        return None
    encoder = make(None, _refuse, text, None, ":", ",", False, False, True)

    def encode(value: object) -> str:
        return "".join(encoder(value, 0))

    return encode


_PORTABLE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_refuse)
_PORTABLE_ASCII = json.JSONEncoder(separators=(",", ":"), default=_refuse)
_encode = _c_encoder(ascii=False) or _PORTABLE.encode
_encode_ascii = _c_encoder(ascii=True) or _PORTABLE_ASCII.encode
# typeshed describes make_scanner as a class taking itself; it takes a decoder's settings.
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


def encode_json(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON. Raises TypeError for what JSON cannot hold,
    ValueError or RecursionError for a value that contains itself."""
    return _encode(value).encode()


def encode_json_ascii(value: object) -> bytes:
    """``json.dumps(value, separators=(",", ":")).encode()`` (non-ASCII text escaped), the
    same bytes without building an encoder per call. Raises as `encode_json` does."""
    return _encode_ascii(value).encode()


def decode_object(body: bytes, what: str = "the body") -> dict[str, Any]:
    """The JSON object in ``body``. Raises ValueError when it is not JSON (a
    ``JSONDecodeError`` or ``UnicodeDecodeError``), `ShapeError` when it is JSON but not an
    object, or nested too deeply to decode (``what`` names it in the message)."""
    try:
        try:
            text = body.decode()
            value, end = _scan(text, 0)
        except (UnicodeDecodeError, StopIteration):
            # Leading whitespace, a byte-order mark, UTF-16, or not JSON at all: the standard
            # decoder knows what to do or which error to raise.
            value = json.loads(body)
        else:
            if end != len(text) and text[end:].strip(_WHITESPACE):
                value = json.loads(body)  # raises "Extra data" at the right position
    except RecursionError:
        # Python's decoder recurses once per level: arrays nested 100,000 deep exhaust the
        # stack. No answer of the API nests more than a few dozen levels.
        raise ShapeError(f"{what} nests JSON arrays or objects too deeply to decode") from None
    if type(value) is not dict:
        raise ShapeError(f"{what} is not a JSON object")
    return value
