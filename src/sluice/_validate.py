"""Validation helpers shared by the config objects: every message names the parameter."""

from __future__ import annotations

import math

from ._errors import ConfigError

__all__ = [
    "check_fraction",
    "check_int_at_least",
    "check_non_negative",
    "check_optional_positive",
    "check_positive",
]


def _finite(owner: str, name: str, value: object, rule: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{owner}({name}=...) must be {rule}, got {value!r}")
    return float(value)


def check_positive(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise `ConfigError`."""
    rule = "a finite number > 0"
    number = _finite(owner, name, value, rule)
    if number <= 0:
        raise ConfigError(f"{owner}({name}=...) must be {rule}, got {value!r}")
    return number


def check_optional_positive(owner: str, name: str, value: object) -> float | None:
    """Like `check_positive`, but ``None`` (meaning "no limit") is accepted and returned."""
    return None if value is None else check_positive(owner, name, value)


def check_non_negative(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number >= 0, else raise `ConfigError`."""
    rule = "a finite number >= 0"
    number = _finite(owner, name, value, rule)
    if number < 0:
        raise ConfigError(f"{owner}({name}=...) must be {rule}, got {value!r}")
    return number


def check_fraction(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float if 0 < value <= 1, else raise `ConfigError`."""
    rule = "a number in (0, 1]"
    number = _finite(owner, name, value, rule)
    if not 0 < number <= 1:
        raise ConfigError(f"{owner}({name}=...) must be {rule}, got {value!r}")
    return number


def check_int_at_least(owner: str, name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise `ConfigError`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{owner}({name}=...) must be an integer >= {minimum}, got {value!r}")
    return value
