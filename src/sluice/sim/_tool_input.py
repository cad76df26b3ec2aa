"""A tool's input made up from its JSON schema: deterministic, and valid for the schemas tools
declare (objects of typed properties, enums, arrays, nesting, ``anyOf``/``oneOf``).

The rule is simple enough to predict in a test: the first ``enum`` value or the ``const``,
else the ``default``, else a value of the (first) type: ``"sim"`` for a string (a date, time,
e-mail, URI or UUID for those formats; padded to ``minLength``), the ``minimum`` (or 1 for an
integer, 1.5 for a number, within ``maximum``), ``true``, ``null``, an array of ``minItems``
items (at least one), an object with every declared property. ``$ref`` and schemas nested
deeper than a bound give ``null``: a made-up input must never recurse without end.

    sample_input({"type": "object", "properties": {"city": {"type": "string"}}})
    # {"city": "sim"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["sample_input"]

_MAX_DEPTH = 8
_MAX_ITEMS = 8
_MAX_LENGTH = 256
_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/sim",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def sample_input(schema: object) -> Any:
    """A value that satisfies ``schema`` (see the module docstring); never raises."""
    return _value(schema, 0)


def _value(schema: object, depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema:
        return schema["default"]
    for combined in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combined)
        if isinstance(options, list) and options:
            return _value(options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None and isinstance(schema.get("properties"), Mapping):
        kind = "object"
    return _typed(kind, schema, depth)


def _bounded(schema: Mapping[str, Any], name: str, default: int, most: int) -> int:
    value = schema.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(0, min(value, most))


def _number(schema: Mapping[str, Any], usual: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = usual
    if isinstance(low, int | float) and not isinstance(low, bool):
        value = low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    if isinstance(high, int | float) and not isinstance(high, bool) and value > high:
        value = high
    return value


def _typed(kind: object, schema: Mapping[str, Any], depth: int) -> Any:
    if kind == "string":
        text = _FORMATS.get(str(schema.get("format")), "sim")
        least = _bounded(schema, "minLength", 0, _MAX_LENGTH)
        return text + "x" * (least - len(text)) if len(text) < least else text
    if kind == "integer":
        return int(_number(schema, 1))
    if kind == "number":
        return float(_number(schema, 1.5))
    if kind == "boolean":
        return True
    if kind == "array":
        count = max(1, _bounded(schema, "minItems", 1, _MAX_ITEMS))
        return [_value(schema.get("items", {}), depth + 1) for _ in range(count)]
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        return {str(name): _value(sub, depth + 1) for name, sub in properties.items()}
    return None
