from __future__ import annotations

import pytest

from sluice.asgi._timeouts import parse_grpc_timeout, parse_seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"2.5", 2.5), (b"2", 2.0), (b"2.", 2.0), (b".25", 0.25), (b" 1 ", 1.0), (b"1000000000", 1e9)],
)
def test_plain_seconds(value: bytes, expected: float) -> None:
    assert parse_seconds(value) == expected


@pytest.mark.parametrize(
    "value",
    [b"", b"0", b"0.0", b"-1", b"+1", b"1e3", b"nan", b"inf", b"1_0", b"1,5", b"1 2", b"9" * 33],
)
def test_plain_seconds_invalid(value: bytes) -> None:
    assert parse_seconds(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"1H", 3600.0),
        (b"2M", 120.0),
        (b"3S", 3.0),
        (b"250m", 0.25),
        (b"500u", 0.0005),
        (b"99999999n", 0.099999999),
    ],
)
def test_grpc_units(value: bytes, expected: float) -> None:
    assert parse_grpc_timeout(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [b"", b"0S", b"1", b"S", b"1s", b"123456789S", b"1.5S", b"-1S"])
def test_grpc_invalid(value: bytes) -> None:
    assert parse_grpc_timeout(value) is None
