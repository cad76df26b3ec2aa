"""How a client says how long it will wait: the two header formats `Deadlines` reads.

- seconds as a plain decimal number: ``x-request-timeout: 2.5`` (digits, one optional
  fraction; no sign, exponent, ``inf`` or ``nan``);
- gRPC's ``grpc-timeout``: at most 8 digits and a unit, ``H`` hours, ``M`` minutes,
  ``S`` seconds, ``m`` milliseconds, ``u`` microseconds, ``n`` nanoseconds (``250m``).

A value must be more than zero; anything else is invalid (``None``)::

    parse_seconds(b"2.5")      # 2.5
    parse_grpc_timeout(b"250m")  # 0.25
    parse_seconds(b"-1")       # None
"""

from __future__ import annotations

import re

__all__ = ["MAX_HEADER_LENGTH", "parse_grpc_timeout", "parse_seconds"]

MAX_HEADER_LENGTH = 32
"""Longer values are invalid without being parsed."""

_SECONDS = re.compile(rb"[ \t]*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*")
_GRPC = re.compile(rb"[ \t]*([0-9]{1,8})([HMSmun])[ \t]*")
_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_seconds(value: bytes) -> float | None:
    """Seconds from a plain decimal number (> 0), or ``None`` when the value is not one.
    Huge numbers are returned as they are (the caller clamps them)."""
    if len(value) > MAX_HEADER_LENGTH:
        return None
    match = _SECONDS.fullmatch(value)
    if match is None:
        return None
    seconds = float(match.group(1))
    return seconds if seconds > 0 else None


def parse_grpc_timeout(value: bytes) -> float | None:
    """Seconds from a gRPC ``TimeoutValue TimeoutUnit`` (> 0), or ``None``."""
    if len(value) > MAX_HEADER_LENGTH:
        return None
    match = _GRPC.fullmatch(value)
    if match is None:
        return None
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    return seconds if seconds > 0 else None
