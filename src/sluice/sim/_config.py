"""Configuration of the simulator: one frozen, validated object, loadable from TOML.

Every field can be given as a CLI flag (``--max-concurrency``), as a TOML key
(``max_concurrency`` or ``max-concurrency``), or as a keyword argument. Durations are seconds
(``0.02``) or strings with a unit (``"20ms"``, ``"1.5s"``, ``"2m"``). A zero limit means "no
limit" for ``max_concurrency``, ``rpm`` and ``tpm``; ``burst`` is how many seconds of ``rpm``
and ``tpm`` a key may spend at once (1 s, as providers enforce per-minute limits over short
intervals; 60 s lets a whole minute's budget pass at once). Invalid values fail at construction
with a message naming the field::

    SimConfig(ttft=-1)   # ConfigError: sim config: ttft must be >= 0, got -1

Every setting is bounded, so neither a configuration nor a request can make the server
allocate or compute without limit: durations are at most a day, answers at most
``MAX_OUTPUT_TOKENS`` tokens, and what a client may send (``max_body_bytes``,
``max_header_bytes``, ``header_timeout``, ``body_timeout``) or ask for
(``max_embedding_values``) has a limit of its own.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError

__all__ = [
    "FAULT_NAMES",
    "JITTER_KINDS",
    "MAX_EMBEDDING_DIMENSIONS",
    "MAX_EMBEDDING_INPUTS",
    "MAX_OUTPUT_TOKENS",
    "SimConfig",
    "load_config",
    "parse_duration",
]

FAULT_NAMES = (
    "400",
    "429",
    "500",
    "503",
    "529",
    "hang",
    "stall",
    "reset",
    "truncate",
    "malformed",
    "slow",
    "refusal",
    "length",
)
JITTER_KINDS = ("constant", "normal", "lognormal")

_DURATION_FIELDS = frozenset(
    {
        "ttft",
        "prefill_per_token",
        "itl",
        "retry_after",
        "burst",
        "max_hang",
        "slow_itl",
        "header_timeout",
        "body_timeout",
    }
)
# Upper bounds: far beyond any realistic setting, low enough that no product of them
# overflows a timer or exhausts memory.
_MAX_SECONDS = 86_400.0
MAX_OUTPUT_TOKENS = 1_000_000
_MAX_CONTEXT = 10_000_000
_MAX_JITTER_CV = 10.0
_MAX_LOAD_FACTOR = 1000.0
_MAX_SEED = 2**64 - 1
# What one embeddings request may hold, as OpenAI's API allows.
MAX_EMBEDDING_INPUTS = 2048
MAX_EMBEDDING_DIMENSIONS = 8192
_KIB = 1024
_MIB = 1024 * 1024
_DURATION_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(us|ms|s|m)?\s*$")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0}


def _fail(name: str, rule: str, value: object) -> ConfigError:
    return ConfigError(f"sim config: {name} must be {rule}, got {value!r}")


def _number(
    name: str, value: object, *, minimum: float, maximum: float, strict: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(name, f"a number {'>' if strict else '>='} {minimum:g}", value)
    if value < minimum or (strict and value == minimum):
        raise _fail(name, f"{'>' if strict else '>='} {minimum:g}", value)
    if value > maximum:
        raise _fail(name, f"<= {maximum:g}", value)
    return float(value)


def _integer(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    rule = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, rule, value)
    if value < minimum or (maximum is not None and value > maximum):
        raise _fail(name, rule, value)
    return value


def _probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _fail(name, "a probability in [0, 1]", value)
    return float(value)


def parse_duration(name: str, value: object) -> float:
    """Seconds from ``0.2``, ``"200ms"``, ``"1.5s"``, ``"2m"`` or ``"500us"``.

    Errors name the field ``name``.
    """
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match is None:
            raise _fail(name, "a duration like 0.2, '200ms' or '1.5s'", value)
        number, unit = match.groups()
        if unit is None and "." not in number:
            return int(number)  # "-1" stays -1, so a range error quotes it as written
        return float(number) * _UNIT_SECONDS[unit]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, "a duration like 0.2, '200ms' or '1.5s'", value)
    return value  # unchanged, so a later range error shows the value as it was written


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the simulated service behaves: latency, capacity, rate limits, faults, content.

    Latency: TTFT = queue wait + ``ttft`` + ``prefill_per_token`` x prompt tokens; tokens then
    follow every ``itl`` seconds. ``jitter`` (constant, normal, lognormal) with ``jitter_cv``
    varies both; ``load_factor`` multiplies them linearly from 1 (one active request) up to
    ``load_factor`` at ``load_batch`` active requests (default ``max_concurrency``).

    What a client may send or ask for: a request body of at most ``max_body_bytes`` (413
    beyond), arriving within ``body_timeout`` seconds (408); request line and headers of at
    most ``max_header_bytes`` (431), complete within ``header_timeout`` seconds of the
    connection opening or of its previous answer (408, or a silent close when nothing came);
    embeddings answers of at most ``max_embedding_values`` numbers (inputs x dimensions, 400).

        config = SimConfig(ttft=0.2, itl=0.02, max_concurrency=64, rpm=600, seed=7)
        async with SimServer(config) as sim:
            print(sim.base_url)
    """

    ttft: float = 0.0
    prefill_per_token: float = 0.0
    itl: float = 0.0
    jitter: str = "constant"
    jitter_cv: float = 0.0
    load_factor: float = 1.0
    load_batch: int = 0
    max_concurrency: int = 0
    max_queue: int = 100
    overflow_status: int = 429
    retry_after: float = 1.0
    rpm: int = 0
    tpm: int = 0
    burst: float = 1.0
    error_rate: float = 0.0
    faults: Mapping[str, float] = field(default_factory=dict)
    max_hang: float = 300.0
    slow_itl: float = 0.1
    output_tokens: int = 16
    tokens_per_chunk: int = 1
    context_length: int = 128_000
    embedding_dim: int = 256
    models: tuple[str, ...] = ("sim-model", "sim-embedding")
    seed: int = 0
    max_body_bytes: int = 16 * _MIB
    max_header_bytes: int = 64 * _KIB
    max_embedding_values: int = _MIB
    header_timeout: float = 10.0
    body_timeout: float = 60.0

    def __post_init__(self) -> None:
        self._check_durations()
        self._check_integers()
        jitter_cv = _number("jitter_cv", self.jitter_cv, minimum=0, maximum=_MAX_JITTER_CV)
        object.__setattr__(self, "jitter_cv", jitter_cv)
        object.__setattr__(
            self,
            "load_factor",
            _number("load_factor", self.load_factor, minimum=1, maximum=_MAX_LOAD_FACTOR),
        )
        if self.jitter not in JITTER_KINDS:
            raise _fail("jitter", "one of " + ", ".join(JITTER_KINDS), self.jitter)
        if self.overflow_status not in (429, 503):
            raise _fail("overflow_status", "429 or 503", self.overflow_status)
        if self.load_factor != 1 and self.load_batch == 0 and self.max_concurrency == 0:
            raise _fail("load_batch", "> 0 when load_factor is set and max_concurrency is 0", 0)
        object.__setattr__(self, "error_rate", _probability("error_rate", self.error_rate))
        object.__setattr__(self, "faults", MappingProxyType(self._checked_faults()))
        models: object = self.models
        if isinstance(models, str) or not isinstance(models, tuple | list) or not models:
            raise _fail("models", "a non-empty list of model names", models)
        if not all(isinstance(m, str) and m for m in models):
            raise _fail("models", "a list of non-empty strings", models)
        object.__setattr__(self, "models", tuple(models))

    def _check_durations(self) -> None:
        for name in ("ttft", "prefill_per_token", "itl", "retry_after", "slow_itl"):
            seconds = _number(name, getattr(self, name), minimum=0, maximum=_MAX_SECONDS)
            object.__setattr__(self, name, seconds)
        for name in ("burst", "max_hang", "header_timeout", "body_timeout"):
            value = getattr(self, name)
            seconds = _number(name, value, minimum=0, maximum=_MAX_SECONDS, strict=True)
            object.__setattr__(self, name, seconds)

    def _check_integers(self) -> None:
        for name in ("load_batch", "max_concurrency", "max_queue", "rpm", "tpm"):
            _integer(name, getattr(self, name), minimum=0)
        for name in ("output_tokens", "tokens_per_chunk"):
            _integer(name, getattr(self, name), minimum=1, maximum=MAX_OUTPUT_TOKENS)
        _integer("context_length", self.context_length, minimum=1, maximum=_MAX_CONTEXT)
        _integer("embedding_dim", self.embedding_dim, minimum=1, maximum=MAX_EMBEDDING_DIMENSIONS)
        _integer("seed", self.seed, minimum=0, maximum=_MAX_SEED)
        _integer("max_body_bytes", self.max_body_bytes, minimum=_KIB, maximum=1024 * _MIB)
        _integer("max_header_bytes", self.max_header_bytes, minimum=_KIB, maximum=16 * _MIB)
        values = _integer(
            "max_embedding_values",
            self.max_embedding_values,
            minimum=1,
            maximum=MAX_EMBEDDING_INPUTS * MAX_EMBEDDING_DIMENSIONS,
        )
        if values < self.embedding_dim:
            rule = f">= embedding_dim ({self.embedding_dim}), so that one input fits"
            raise _fail("max_embedding_values", rule, values)

    def _checked_faults(self) -> dict[str, float]:
        if not isinstance(self.faults, Mapping):
            raise _fail("faults", "a table of fault name = probability", self.faults)
        checked: dict[str, float] = {}
        for name, probability in self.faults.items():
            if name not in FAULT_NAMES:
                raise _fail("faults", "keyed by one of " + ", ".join(FAULT_NAMES), name)
            checked[name] = _probability(f"faults.{name}", probability)
        total = sum(checked.values()) + self.error_rate
        if total > 1 + 1e-9:
            raise _fail("faults", "probabilities (with error_rate) summing to <= 1", total)
        return checked

    @property
    def effective_load_batch(self) -> int:
        """Active requests at which latency reaches ``load_factor`` x its base value."""
        return self.load_batch or self.max_concurrency or 1

    def fault_probabilities(self) -> dict[str, float]:
        """Every fault's probability, with ``error_rate`` folded into ``"500"``."""
        merged = dict(self.faults)
        if self.error_rate:
            merged["500"] = merged.get("500", 0.0) + self.error_rate
        return {name: p for name, p in merged.items() if p > 0}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SimConfig:
        """Build from plain data (a parsed TOML file, say): keys checked, durations parsed."""
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = str(raw_key).replace("-", "_")
            if key not in known:
                raise ConfigError(
                    f"sim config: unknown field {raw_key!r} (known: {', '.join(sorted(known))})"
                )
            if key in _DURATION_FIELDS:
                value = parse_duration(key, value)
            elif key == "models" and isinstance(value, list):
                value = tuple(value)
            values[key] = value
        return cls(**values)

    def to_args(self) -> list[str]:
        """The ``sluice sim`` flags that reproduce this configuration (defaults omitted)."""
        args: list[str] = []
        defaults = SimConfig()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == getattr(defaults, f.name):
                continue
            flag = "--" + f.name.replace("_", "-")
            if f.name == "faults":
                for name, probability in value.items():
                    args += ["--fault", f"{name}={probability!r}"]
            elif f.name == "models":
                for model in value:
                    args += ["--model", model]
            else:
                args += [flag, repr(value) if isinstance(value, float) else str(value)]
        return args


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> SimConfig:
    """Read a TOML file (if any), apply ``overrides`` on top, validate.

    Fault tables merge: an override ``faults`` entry replaces only the faults it names.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as file:
                data = {str(k).replace("-", "_"): v for k, v in tomllib.load(file).items()}
        except OSError as exc:
            raise ConfigError(f"sim config: cannot read {os.fspath(path)!r}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"sim config: {os.fspath(path)!r} is not UTF-8 text (byte {exc.start}); "
                "save it as UTF-8"
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"sim config: {os.fspath(path)!r} is not valid TOML: {exc}") from exc
    for key, value in (overrides or {}).items():
        key = key.replace("-", "_")
        if key == "faults" and isinstance(data.get("faults"), Mapping):
            data["faults"] = {**data["faults"], **value}
        else:
            data[key] = value
    return SimConfig.from_mapping(data)
