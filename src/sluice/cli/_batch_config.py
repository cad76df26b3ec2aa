"""``sluice run --config FILE``: the run's settings in a TOML file.

Every key is one of the command's options, named as in the Python API (``base_url``,
``rpm``, ``max_failures``, ``dedup = false``...), plus ``api_key`` (the key itself, which the
command line never takes). A flag given on the command line wins over the file. An unknown
key, or a value of the wrong type, is refused naming the key; a file holding an ``api_key``
that others may read gets a warning. The key is never printed.

    settings = load_config(Path("run.toml"))
    settings.defaults     # {"base_url": "...", "rpm": 500.0, "no_dedup": True}
    settings.api_key      # or None
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunConfig", "load_config"]


class ConfigFileError(ValueError):
    """The config file cannot be used; the message says which key and how to fix it."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _rate(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _seconds(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def _concurrency(value: Any) -> int | str | None:
    return "auto" if value == "auto" else _count(value)


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _max_failures(value: Any) -> int | str | None:
    return _count(value) if isinstance(value, int) else _text(value)


# key: (what a good value is, how to read it, the option it sets, a flag's inversion)
_KEYS: dict[str, tuple[str, Callable[[Any], Any], str, bool]] = {
    "base_url": ("a URL string", _text, "base_url", False),
    "output": ("a file path string", _text, "output", False),
    "api_key_env": ("an environment variable name", _text, "api_key_env", False),
    "rpm": ("a number > 0", _rate, "rpm", False),
    "tpm": ("a number > 0", _rate, "tpm", False),
    "concurrency": ("an integer >= 1 or 'auto'", _concurrency, "concurrency", False),
    "retry_failed": ("true or false", _flag, "retry_failed", False),
    "max_failures": ("a count >= 1 or a share like '5%'", _max_failures, "max_failures", False),
    "dedup": ("true or false", _flag, "no_dedup", True),
    "shared": ("a Redis URL string", _text, "shared", False),
    "progress_every": ("a number of seconds >= 0", _seconds, "progress_every", False),
    "ordered": ("true or false", _flag, "ordered", False),
    "ordered_hold": ("an integer >= 1", _count, "ordered_hold", False),
    "cache": ("a file path string", _text, "cache", False),
    "panel": ("true or false", _flag, "no_panel", True),
    "max_cost": ("a number of USD > 0", _rate, "max_cost", False),
    "prices": ("a file path string", _text, "prices", False),
}
KNOWN_KEYS = ("api_key", *_KEYS)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """What a config file sets: option defaults (by option name), the API key, warnings."""

    defaults: dict[str, Any] = field(default_factory=dict)
    api_key: str | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()


def load_config(path: Path) -> RunConfig:
    """Read and check ``path``; raises `ConfigFileError` naming the problem."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigFileError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"the config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigFileError(
            f"the config file {path} has unknown key {unknown[0]!r}: the keys are "
            f"{', '.join(KNOWN_KEYS)}"
        )
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        if key == "api_key":
            continue
        expected, read, option, inverted = _KEYS[key]
        checked = read(value)
        if checked is None:
            raise ConfigFileError(
                f"the config file {path}: {key} must be {expected}, got {value!r}"
            )
        if checked != "auto":
            defaults[option] = (not checked) if inverted else checked
    api_key = data.get("api_key")
    warnings: list[str] = []
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key:
            # The value is not shown: it may be a key written in the wrong place.
            raise ConfigFileError(f"the config file {path}: api_key must be a non-empty string")
        if "api_key_env" in data:
            raise ConfigFileError(
                f"the config file {path} has both api_key and api_key_env: keep one"
            )
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"the config file {path} holds an API key and other users may read it "
                f"(mode {mode:o}): run  chmod 600 {path}"
            )
    return RunConfig(defaults, api_key, tuple(warnings))
