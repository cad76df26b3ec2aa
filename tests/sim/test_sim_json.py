"""The simulator's JSON codec: orjson's speed, the standard library's values."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.sim._body import decode_json
from sluice.sim._json import dumps, loads
from sluice.sim._request_error import RequestError

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_what_loads_returns_is_what_the_standard_library_reads(value: Any) -> None:
    for raw in (json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode()):
        read = loads(raw)
        if re.search(rb"[0-9]{19}", raw):  # a number orjson might read as a float
            assert read is None
        else:  # orjson's value, the standard library's exactly (None only for null)
            assert read == json.loads(raw)
            assert _types(read) == _types(json.loads(raw))  # 1 stays 1, never 1.0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"max_tokens": 123456789012345678901234567890}',  # orjson would read a float
        b'{"n": 9223372036854775808}',  # one past int64
        b'{"t": NaN}',
        b'{"t": Infinity}',
        b'{"a": 1e400}',
        '\ufeff{"a": 1}'.encode(),
        b"[" * 2000 + b"]" * 2000,
        b'{"a": "\\ud800"}',
        b'{"a": "\xff"}',
        b"not json",
    ],
)
def test_bodies_orjson_would_read_otherwise_or_refuse_go_to_the_standard_path(raw: bytes) -> None:
    assert loads(raw) is None


def test_a_long_integer_keeps_every_digit() -> None:
    body = decode_json(b'{"model": "m", "max_tokens": 123456789012345678901234567890}')
    assert body["max_tokens"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"NaN", "NaN is not a JSON value"),
        (b"-Infinity", "-Infinity is not a JSON value"),
        (b"1e400", "the number 1e400 is too large for a double"),
    ],
)
def test_numbers_json_cannot_hold_are_refused_as_not_json(value: bytes, problem: str) -> None:
    with pytest.raises(RequestError, match="it is not valid JSON") as refused:
        decode_json(b'{"model": "m", "temperature": ' + value + b"}")
    assert problem in refused.value.message


@given(JSON)
def test_dumps_writes_utf8_json_that_reads_back_equal(value: Any) -> None:
    written = dumps(value)
    assert json.loads(written) == value
    assert _types(json.loads(written)) == _types(value)
    assert written == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() or (
        _has_float(value)  # orjson spells some floats differently: 1e-7 for 1e-07
    )


def test_integers_past_64_bits_are_written_whole() -> None:
    assert (
        dumps({"n": 2**70, "m": [-(2**65)]})
        == b'{"n":1180591620717411303424,"m":[-36893488147419103232]}'
    )


def test_what_json_cannot_hold_is_still_a_type_error() -> None:
    with pytest.raises(TypeError, match="a set is not JSON serializable"):
        dumps({"tools": {1, 2}})


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value).__name__


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    return False
