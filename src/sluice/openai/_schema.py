"""Values that satisfy a JSON Schema, made deterministically from a seed.

What a server answers for a ``json_schema`` response format or a tool's ``parameters``: the
same schema and seed always give the same value, different seeds give different ones. Covers
what JSON Schema generators such as pydantic emit: ``type`` (one or a list), ``enum``,
``const``, ``properties`` with ``required``, ``additionalProperties``, ``minProperties``,
``items``, ``prefixItems``, ``minItems`` / ``maxItems`` / ``uniqueItems``, number bounds
(inclusive and exclusive, in either draft's spelling) and ``multipleOf``, string lengths and
the common ``format`` values, ``anyOf`` / ``oneOf`` (a branch is chosen; ``oneOf`` branches
are taken to be exclusive, as a discriminated union's are), ``allOf`` (merged), ``$ref`` into
the same document (``#``, ``#/$defs/...``, ``#/definitions/...``), recursion included.
Keywords beyond these (``pattern``, ``not``, ``if``, ``patternProperties``...) are ignored:
the value may not satisfy them. A schema no value satisfies, or one asking for more than
`MAX_VALUES` values, raises `SchemaError`.

    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    schema_instance(schema, seed=7)            # {"city": "harbor lantern"}, say
    schema_instance(schema, seed=7) == schema_instance(schema, seed=7)   # True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_VALUES", "SchemaError", "schema_instance"]

MAX_VALUES = 10_000
"""The most values (objects, arrays, strings, numbers...) one generated instance may hold."""

_MAX_STRING = 10_000
_SHALLOW = 4  # past this nesting, optional parts are left out and recursion is avoided
_DEEPEST = 64  # a schema that cannot stop recursing before this depth is refused
_MASK = (1 << 64) - 1
_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")

# fmt: off
_WORDS = (
    "river", "stone", "light", "window", "garden", "signal", "harbor", "paper", "engine",
    "silver", "market", "forest", "bridge", "ladder", "circle", "orbit", "candle", "meadow",
    "lantern", "compass", "anchor", "feather", "marble", "canyon", "island", "valley", "summit",
    "crystal", "willow", "falcon", "copper", "timber", "harvest", "mirror", "rocket", "amber",
)
# fmt: on


class SchemaError(ValueError):
    """The schema cannot be satisfied (or not within the generator's bounds)."""


class _Draws:
    """SplitMix64: a tiny generator whose sequence is fixed on every platform and version."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n if n > 1 else 0

    def chance(self) -> bool:
        return bool(self.next() & 1)


class _Generator:
    __slots__ = ("_draws", "_root", "_values")

    def __init__(self, root: object, seed: int) -> None:
        self._root = root
        self._draws = _Draws(seed)
        self._values = 0

    # ---------------------------------------------------------------- schema plumbing
    def resolve(self, schema: object, hops: int = 0) -> dict[str, Any]:
        """``schema`` with its ``$ref`` and ``allOf`` folded in; a boolean schema as a dict."""
        siblings: list[dict[str, Any]] = []  # what a $ref's schema adds to its target
        while True:
            hops += 1
            if hops > _DEEPEST:
                raise SchemaError("the schema's $ref chain does not end")
            if schema is True:
                schema = {}
            if schema is False:
                raise SchemaError("the schema is false: no value satisfies it")
            if not isinstance(schema, Mapping):
                raise SchemaError(f"a schema must be an object or a boolean, got {schema!r}")
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            siblings.append({k: v for k, v in schema.items() if k != "$ref"})
            schema = self._pointer(ref)
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        parts = schema.get("allOf")
        if isinstance(parts, list):
            for part in parts:
                merged = _merge(merged, self.resolve(part, hops))
        for extra in reversed(siblings):
            merged = _merge(merged, extra)
        return merged

    def _pointer(self, ref: str) -> object:
        if not ref.startswith("#"):
            raise SchemaError(f"$ref {ref!r} points outside the schema: only '#...' refs resolve")
        node = self._root
        for raw in ref[1:].lstrip("/").split("/") if ref[1:] else ():
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise SchemaError(f"$ref {ref!r} does not resolve in the schema")
        return node

    def _count(self) -> None:
        self._values += 1
        if self._values > MAX_VALUES:
            raise SchemaError(f"the schema asks for more than {MAX_VALUES} values")

    # ---------------------------------------------------------------- values
    def value(self, schema: object, depth: int) -> Any:
        if depth > _DEEPEST:
            raise SchemaError(f"the schema nests deeper than {_DEEPEST} levels with no way out")
        self._count()
        node = self.resolve(schema)
        if "const" in node:
            return node["const"]
        enum = node.get("enum")
        if isinstance(enum, list):
            if not enum:
                raise SchemaError("an enum with no values: nothing satisfies it")
            return enum[self._draws.below(len(enum))]
        branches = node.get("anyOf") or node.get("oneOf")
        if isinstance(branches, list) and branches:
            siblings = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            branch = self._branch(branches, depth)
            return self.value(_merge(siblings, self.resolve(branch)), depth)
        kind = self._type(node, depth)
        if kind == "object":
            return self._object(node, depth)
        if kind == "array":
            return self._array(node, depth)
        if kind == "string":
            return self._string(node)
        if kind == "integer":
            return self._integer(node)
        if kind == "number":
            return self._number(node)
        if kind == "boolean":
            return self._draws.chance()
        return None

    def _branch(self, branches: list[Any], depth: int) -> object:
        if depth < _SHALLOW:
            return branches[self._draws.below(len(branches))]
        # Deep in a recursive schema: the branch least likely to recurse (null, then no $ref).
        for branch in branches:
            if isinstance(branch, Mapping) and branch.get("type") == "null":
                return branch
        for branch in branches:
            if isinstance(branch, Mapping) and "$ref" not in branch:
                return branch
        return branches[0]

    def _type(self, node: Mapping[str, Any], depth: int) -> str:
        kind = node.get("type")
        if isinstance(kind, str):
            if kind not in _TYPES:
                raise SchemaError(f"unknown type {kind!r}; JSON Schema's are {', '.join(_TYPES)}")
            return kind
        if isinstance(kind, list) and kind:
            kinds = [k for k in kind if k in _TYPES]
            if not kinds:
                raise SchemaError(f"no known type among {kind!r}")
            if depth >= _SHALLOW and "null" in kinds:
                return "null"
            solid: list[str] = [k for k in kinds if k != "null"] or kinds
            return solid[self._draws.below(len(solid))]
        if "properties" in node or "required" in node or "additionalProperties" in node:
            return "object"
        if "items" in node or "prefixItems" in node or "minItems" in node:
            return "array"
        if any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
        return "string"

    def _object(self, node: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = node.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = node.get("required")
        required = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        extra = node.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for name in required:
            out[name] = self.value(properties.get(name, extra), depth + 1)
        for name, sub in properties.items():
            if name not in out and depth < _SHALLOW and self._draws.chance():
                out[name] = self.value(sub, depth + 1)
        least = _whole(node.get("minProperties"), 0)
        for name, sub in properties.items():
            if len(out) >= least:
                break
            if name not in out:
                out[name] = self.value(sub, depth + 1)
        number = 0
        while len(out) < least:
            if extra is False:
                raise SchemaError("minProperties asks for more properties than the schema allows")
            number += 1
            name = f"field_{number}"
            if name not in properties and name not in out:
                out[name] = self.value(extra, depth + 1)
        most = node.get("maxProperties")
        if isinstance(most, int) and len(out) > most:
            raise SchemaError("the required properties outnumber maxProperties")
        return out

    def _array(self, node: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = node.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = node.get("items", True)
        least = _whole(node.get("minItems"), 0)
        most = _whole(node.get("maxItems"), -1)
        if items is False:  # nothing beyond the prefix
            most = len(prefix) if most < 0 else min(most, len(prefix))
        if least > MAX_VALUES:
            raise SchemaError(f"minItems {least} is beyond the generator's {MAX_VALUES} values")
        if 0 <= most < least:
            raise SchemaError(f"maxItems {most} is below minItems {least}")
        spare = 0 if depth >= _SHALLOW else self._draws.below(3)
        length = least + spare if most < 0 else min(most, least + spare)
        if node.get("uniqueItems") is True:
            return self._unique(prefix, items, length, least, depth)
        return [
            self.value(prefix[i] if i < len(prefix) else items, depth + 1) for i in range(length)
        ]

    def _unique(
        self, prefix: list[Any], items: object, length: int, least: int, depth: int
    ) -> list[Any]:
        out: list[Any] = []
        seen: set[str] = set()
        for i in range(length):
            sub = prefix[i] if i < len(prefix) else items
            for _ in range(16):  # distinct values by drawing again; a small enum may run out
                value = self.value(sub, depth + 1)
                key = _identity(value)
                if key not in seen:
                    seen.add(key)
                    out.append(value)
                    break
            else:
                if len(out) >= least:
                    return out
                raise SchemaError("uniqueItems: the item schema has too few distinct values")
        return out

    def _string(self, node: Mapping[str, Any]) -> str:
        text = _formatted(node.get("format"), self._draws)
        if text is None:
            count = 1 + self._draws.below(3)
            text = " ".join(_WORDS[self._draws.below(len(_WORDS))] for _ in range(count))
        least = _whole(node.get("minLength"), 0)
        most = _whole(node.get("maxLength"), -1)
        if least > _MAX_STRING:
            raise SchemaError(f"minLength {least} is beyond the generator's {_MAX_STRING}")
        if 0 <= most < least:
            raise SchemaError(f"maxLength {most} is below minLength {least}")
        if len(text) < least:
            text += "x" * (least - len(text))
        if most >= 0 and len(text) > most:
            text = text[:most]
        return text

    def _bounds(self, node: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
        """(low, low is exclusive, high, high is exclusive), in either draft's spelling."""
        low, high = _number_or_none(node.get("minimum")), _number_or_none(node.get("maximum"))
        low_open = high_open = False
        exclusive_low, exclusive_high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if exclusive_low is True:  # draft 4: a flag on minimum
            low_open = low is not None
        elif (value := _number_or_none(exclusive_low)) is not None and (
            low is None or value >= low
        ):
            low, low_open = value, True
        if exclusive_high is True:
            high_open = high is not None
        elif (value := _number_or_none(exclusive_high)) is not None and (
            high is None or value <= high
        ):
            high, high_open = value, True
        return low, low_open, high, high_open

    def _integer(self, node: Mapping[str, Any]) -> int:
        low, low_open, high, high_open = self._bounds(node)
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
        span = min(hi - start, 100)
        return (start + self._draws.below(span + 1)) * step

    def _number(self, node: Mapping[str, Any]) -> float | int:
        step = _number_or_none(node.get("multipleOf"))
        if step is not None and step > 0:
            if isinstance(step, int):
                return self._integer(node)
            return self._multiple(node, step)
        low, low_open, high, high_open = self._bounds(node)
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
        value = round(start + width * (self._draws.below(10_001) / 10_000), 2)
        # Rounding may land on a bound an exclusive one refuses: step inside.
        if low is not None and (value < low or (low_open and value <= low)):
            value = (low + (high if high is not None else low + 1)) / 2
        if high is not None and (value > high or (high_open and value >= high)):
            value = ((low if low is not None else high - 1) + high) / 2
        return value

    def _multiple(self, node: Mapping[str, Any], step: float) -> float:
        low, low_open, high, high_open = self._bounds(node)
        last_bound = None if high is None else math.floor(high / step)
        if low is not None:
            first = math.ceil(low / step)
        else:
            first = 0 if last_bound is None else min(0, last_bound)
        last = first + 100 if last_bound is None else last_bound
        while low is not None and (first * step < low or (low_open and first * step <= low)):
            first += 1
        while high is not None and (last * step > high or (high_open and last * step >= high)):
            last -= 1
        if first > last:
            raise SchemaError("no multiple of multipleOf lies within the schema's bounds")
        span = min(last - first, 100) + 1
        k = first + self._draws.below(span)
        for _ in range(span):
            # Validators divide by the step: take a multiple that survives float rounding.
            value = k * step
            if (value / step).is_integer():
                return value
            k = first + (k - first + 1) % span
        return k * step


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Two schemas an instance must both satisfy, as one (properties and required joined)."""
    out = dict(base)
    for key, value in extra.items():
        if key == "properties" and isinstance(out.get(key), Mapping) and isinstance(value, Mapping):
            out[key] = {**out[key], **value}
        elif key == "required" and isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = [*out[key], *(v for v in value if v not in out[key])]
        else:
            out[key] = value
    return out


def _lowest_integer(bound: float, exclusive: bool) -> int:
    """The least integer above ``bound`` (or at it, when it is inclusive and whole)."""
    floor = math.floor(bound)
    return floor + 1 if exclusive or floor != bound else floor


def _whole(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def _number_or_none(value: object) -> float | int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _identity(value: object) -> str:
    """A key equal for values JSON Schema calls equal (1 and 1.0 alike; key order ignored)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, str):
        return "s" + value
    if isinstance(value, list):
        return "[" + ",".join(_identity(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k!r}:{_identity(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)


def _formatted(form: object, draws: _Draws) -> str | None:
    n = draws.next()
    if form == "date-time":
        return f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z"
    if form == "date":
        return f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}"
    if form == "time":
        return f"{n % 24:02d}:{n % 60:02d}:00Z"
    if form == "email":
        return f"{_WORDS[n % len(_WORDS)]}{n % 100}@example.com"
    if form in ("uri", "url", "uri-reference", "iri"):
        return f"https://example.com/{_WORDS[n % len(_WORDS)]}"
    if form == "uuid":
        digits = f"{n:016x}{(n * 0x9E3779B97F4A7C15) & _MASK:016x}"
        return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-8{digits[17:20]}-{digits[20:32]}"
    if form == "ipv4":
        return f"10.{n % 256}.{(n >> 8) % 256}.{(n >> 16) % 256}"
    if form == "ipv6":
        return f"2001:db8::{n % 65536:x}"
    if form in ("hostname", "idn-hostname"):
        return f"{_WORDS[n % len(_WORDS)]}.example.com"
    if form == "duration":
        return f"P{1 + n % 30}D"
    return None


def schema_instance(schema: object, seed: int) -> Any:
    """A JSON value satisfying ``schema`` (a JSON Schema as decoded JSON), the same for the
    same ``seed``. Raises `SchemaError` for a schema nothing satisfies, or one whose value
    would exceed `MAX_VALUES` values or nest past its recursion.

        schema_instance({"type": "integer", "minimum": 3, "maximum": 5}, seed=1)   # 3, 4 or 5
    """
    return _Generator(schema, seed).value(schema, 0)
