"""The leaves of a generated JSON value: the seeded draws, strings, formats and numbers.

Each ``*_maker`` reads its schema node once and returns a function of the draws, so that
making a value costs a few operations however the schema spelt its bounds.

    draws = Draws(7)
    make = integer_maker({"type": "integer", "minimum": 3, "maximum": 5})
    make(draws, 0)     # 3, 4 or 5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "MAX_VALUES",
    "Draws",
    "SchemaError",
    "integer_maker",
    "number_maker",
    "string_maker",
    "too_many_values",
]

MAX_VALUES = 10_000
"""The most values (objects, arrays, strings, numbers...) one generated instance may hold."""

_MAX_STRING = 10_000
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15

# fmt: off
WORDS = (
    "river", "stone", "light", "window", "garden", "signal", "harbor", "paper", "engine",
    "silver", "market", "forest", "bridge", "ladder", "circle", "orbit", "candle", "meadow",
    "lantern", "compass", "anchor", "feather", "marble", "canyon", "island", "valley", "summit",
    "crystal", "willow", "falcon", "copper", "timber", "harvest", "mirror", "rocket", "amber",
)
# fmt: on


class SchemaError(ValueError):
    """The schema cannot be satisfied (or not within the generator's bounds)."""


class Draws:
    """SplitMix64, whose sequence is the same on every platform and Python version, dealt
    out 16 bits at a time for small draws (a 64-bit step costs more than using it up); it
    also counts the values made, to bound them (`MAX_VALUES`)."""

    __slots__ = ("_left", "_pool", "_state", "values")

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK
        self._pool = 0
        self._left = 0
        self.values = 0

    def next(self) -> int:
        self._state = state = (self._state + _GOLDEN) & _MASK
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """A number in ``range(n)``."""
        if n <= 1:
            return 0
        if n > 0x10000:
            return self.next() % n
        if not self._left:
            self._pool, self._left = self.next(), 4
        self._left -= 1
        bits = self._pool & 0xFFFF
        self._pool >>= 16
        return bits % n

    def count(self, values: int = 1) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise too_many_values()


def too_many_values() -> SchemaError:
    return SchemaError(f"the schema asks for more than {MAX_VALUES} values")


Leaf = Callable[[Draws, int], Any]
"""Makes one value from the draws (the depth, which a leaf ignores, is there to match the
makers of objects and arrays)."""


def whole(value: object, default: int) -> int:
    """A non-negative integer keyword's value, or ``default`` when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def _number_or_none(value: object) -> float | int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _formats() -> dict[str, Callable[[int], str]]:
    def uuid(n: int) -> str:
        digits = f"{n:016x}{(n * _GOLDEN) & _MASK:016x}"
        return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-8{digits[17:20]}-{digits[20:32]}"

    def word(n: int) -> str:
        return WORDS[n % len(WORDS)]

    uri = lambda n: f"https://example.com/{word(n)}"  # noqa: E731
    host = lambda n: f"{word(n)}.example.com"  # noqa: E731
    return {
        "date-time": lambda n: (
            f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z"
        ),
        "date": lambda n: f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}",
        "time": lambda n: f"{n % 24:02d}:{n % 60:02d}:00Z",
        "email": lambda n: f"{word(n)}{n % 100}@example.com",
        "uri": uri,
        "url": uri,
        "uri-reference": uri,
        "iri": uri,
        "uuid": uuid,
        "ipv4": lambda n: f"10.{n % 256}.{(n >> 8) % 256}.{(n >> 16) % 256}",
        "ipv6": lambda n: f"2001:db8::{n % 65536:x}",
        "hostname": host,
        "idn-hostname": host,
        "duration": lambda n: f"P{1 + n % 30}D",
    }


_FORMATS = _formats()


def string_maker(node: Mapping[str, Any]) -> Leaf:
    least = whole(node.get("minLength"), 0)
    most = whole(node.get("maxLength"), -1)
    if least > _MAX_STRING:
        raise SchemaError(f"minLength {least} is beyond the generator's {_MAX_STRING}")
    if 0 <= most < least:
        raise SchemaError(f"maxLength {most} is below minLength {least}")
    form = node.get("format")
    formatted = _FORMATS.get(form) if isinstance(form, str) else None
    if formatted is not None:
        return lambda draws, depth: formatted(draws.next())
    words, count = WORDS, len(WORDS)

    def make(draws: Draws, depth: int) -> str:
        n = draws.next()
        text = words[n % count]
        if n & 0x300:  # two or three words, three times out of four
            text += " " + words[(n >> 10) % count]
            if n & 0x200:
                text += " " + words[(n >> 20) % count]
        if len(text) < least:
            text += "x" * (least - len(text))
        if most >= 0 and len(text) > most:
            text = text[:most]
        return text

    return make


def _bounds(node: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low is exclusive, high, high is exclusive), in either draft's spelling."""
    low, high = _number_or_none(node.get("minimum")), _number_or_none(node.get("maximum"))
    low_open = high_open = False
    exclusive_low, exclusive_high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if exclusive_low is True:  # draft 4: a flag on minimum
        low_open = low is not None
    elif (value := _number_or_none(exclusive_low)) is not None and (low is None or value >= low):
        low, low_open = value, True
    if exclusive_high is True:
        high_open = high is not None
    elif (value := _number_or_none(exclusive_high)) is not None and (high is None or value <= high):
        high, high_open = value, True
    return low, low_open, high, high_open


def _lowest_integer(bound: float, exclusive: bool) -> int:
    """The least integer above ``bound`` (or at it, when it is inclusive and whole)."""
    floor = math.floor(bound)
    return floor + 1 if exclusive or floor != bound else floor


def integer_maker(node: Mapping[str, Any]) -> Leaf:
    low, low_open, high, high_open = _bounds(node)
    lo = -(10**15) if low is None else _lowest_integer(low, low_open)
    hi = 10**15 if high is None else -_lowest_integer(-high, high_open)
    step = node.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0:
        lo, hi = -(-lo // step), hi // step  # multiples k * step inside [lo, hi]
    else:
        step = 1
    if lo > hi:
        raise SchemaError("no integer lies within the schema's bounds")
    start = max(lo, min(hi, 0 if low is None else lo))
    span = min(hi - start, 100) + 1
    return lambda draws, depth: (start + draws.below(span)) * step


def number_maker(node: Mapping[str, Any]) -> Leaf:
    step = _number_or_none(node.get("multipleOf"))
    if step is not None and step > 0:
        if isinstance(step, int):
            return integer_maker(node)
        return _multiple_maker(node, step)
    low, low_open, high, high_open = _bounds(node)
    if (
        low is not None
        and high is not None
        and (low > high or (low == high and (low_open or high_open)))
    ):
        raise SchemaError("no number lies within the schema's bounds")
    start = 0.0 if low is None else low
    if high is not None and start > high:
        start = high - 100
    width = 100.0 if high is None else min(100.0, high - start)
    # Midpoints halve before adding: near the largest floats a sum would overflow.
    inside_low = low / 2 + (high if high is not None else low + 1) / 2 if low is not None else 0.0
    inside_high = (low if low is not None else high - 1) / 2 + high / 2 if high is not None else 0.0

    def make(draws: Draws, depth: int) -> float:
        value = round(start + width * (draws.below(10_001) / 10_000), 2)
        # Rounding may land on a bound, or past it: step inside.
        if low is not None and (value < low or (low_open and value <= low)):
            return inside_low
        if high is not None and (value > high or (high_open and value >= high)):
            return inside_high
        return value

    return make


def _multiple_maker(node: Mapping[str, Any], step: float) -> Leaf:
    low, low_open, high, high_open = _bounds(node)
    first = None if low is None else math.ceil(low / step)
    while first is not None and (first * step < low or (low_open and first * step <= low)):  # type: ignore[operator]
        first += 1
    last = None if high is None else math.floor(high / step)
    while last is not None and (last * step > high or (high_open and last * step >= high)):  # type: ignore[operator]
        last -= 1
    if first is None:
        first = 0 if last is None else min(0, last - 100)
    if last is None:
        last = first + 100
    if first > last:
        raise SchemaError("no multiple of multipleOf lies within the schema's bounds")
    span = min(last - first, 100) + 1
    # Validators divide by the step: only multiples that survive float rounding will do.
    multiples = [k * step for k in range(first, first + span) if ((k * step) / step).is_integer()]
    if not multiples:
        multiples = [first * step]
    return lambda draws, depth: multiples[draws.below(len(multiples))]
