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

A schema is compiled once (`compile_schema`) into a function of the seed; making a value
then costs a few operations per value, whatever the schema's spelling.

    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    make = compile_schema(schema)
    make(7) == make(7) == schema_instance(schema, seed=7)   # {"city": "harbor lantern"}, say
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._schema_leaves import (
    MAX_VALUES,
    Draws,
    SchemaError,
    integer_maker,
    number_maker,
    string_maker,
    too_many_values,
    whole,
)

__all__ = ["MAX_VALUES", "SchemaError", "compile_schema", "schema_instance"]

_SHALLOW = 4  # past this nesting, optional parts are left out and recursion is avoided
_DEEPEST = 64  # a value that cannot stop recursing before this depth is refused
# Values are counted where they can multiply: each object, each array and its items.
_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
_NOTES = frozenset({"title", "description", "default", "examples", "$comment", "deprecated"})

Maker = Callable[[Draws, int], Any]
"""Makes one value from the draws, at a nesting depth."""


def _check(draws: Draws, depth: int, values: int = 1) -> None:
    """Count a container and its ``values - 1`` items; refuse one nested past `_DEEPEST`."""
    if depth > _DEEPEST:
        raise SchemaError(f"the schema nests deeper than {_DEEPEST} levels with no way out")
    draws.values += values  # Draws.count, without a second call for every container
    if draws.values > MAX_VALUES:
        raise too_many_values()


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


class _Compiler:
    """Turns schema nodes into makers, each node once (recursion goes through a cell)."""

    def __init__(self, root: object) -> None:
        self._root = root
        self._cells: dict[int, list[Maker | None]] = {}
        self._kept: list[object] = []  # merged nodes stay alive: their ids key the cells

    # ---------------------------------------------------------------- plumbing
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

    def _resolve(self, schema: object, hops: int = 0) -> dict[str, Any]:
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
                merged = _merge(merged, self._resolve(part, hops))
        for extra in reversed(siblings):
            merged = _merge(merged, extra)
        return merged

    def maker(self, schema: object) -> Maker:
        """The maker of ``schema``, compiled once; a node met again while it is being
        compiled (recursion) gets a maker that calls the finished one."""
        key = id(schema)
        known = self._cells.get(key)
        if known is not None:
            made = known[0]
            if made is not None:
                return made
            return lambda draws, depth: known[0](draws, depth)  # type: ignore[misc]
        cell: list[Maker | None] = [None]
        self._cells[key] = cell
        self._kept.append(schema)
        made = self._build(schema)
        cell[0] = made
        return made

    # ---------------------------------------------------------------- nodes
    def _build(self, schema: object) -> Maker:
        if (
            isinstance(schema, Mapping)
            and isinstance(schema.get("$ref"), str)
            and _NOTES.issuperset(k for k in schema if k != "$ref")
        ):
            target = self._pointer(schema["$ref"])
            if target is not schema:
                return self.maker(target)
        node = self._resolve(schema)
        if "const" in node:
            const = node["const"]
            return lambda draws, depth: const
        enum = node.get("enum")
        if isinstance(enum, list):
            if not enum:
                raise SchemaError("an enum with no values: nothing satisfies it")
            return lambda draws, depth: enum[draws.below(len(enum))]
        branches = node.get("anyOf") or node.get("oneOf")
        if isinstance(branches, list) and branches:
            return self._union(node, branches)
        kind = node.get("type")
        if isinstance(kind, list) and kind:
            return self._kinds(node, kind)
        return self._kind(node, kind if isinstance(kind, str) else _inferred(node))

    def _union(self, node: dict[str, Any], branches: list[Any]) -> Maker:
        siblings = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        makers = []
        for branch in branches:
            merged = _merge(siblings, self._resolve(branch)) if siblings else branch
            if merged is not branch:
                self._kept.append(merged)
            makers.append(self.maker(merged))
        # Deep in a recursive schema: the branch least likely to recurse (null, then no $ref).
        safe = next(
            (
                i
                for i, b in enumerate(branches)
                if isinstance(b, Mapping) and b.get("type") == "null"
            ),
            next(
                (i for i, b in enumerate(branches) if isinstance(b, Mapping) and "$ref" not in b), 0
            ),
        )

        def make(draws: Draws, depth: int) -> Any:
            index = draws.below(len(makers)) if depth < _SHALLOW else safe
            return makers[index](draws, depth)

        return make

    def _kinds(self, node: dict[str, Any], kinds: list[Any]) -> Maker:
        known = [k for k in kinds if k in _TYPES]
        if not known:
            raise SchemaError(f"no known type among {kinds!r}")
        solid = [self._kind(node, k) for k in known if k != "null"] or [self._kind(node, "null")]
        nullable = "null" in known

        def make(draws: Draws, depth: int) -> Any:
            if depth >= _SHALLOW and nullable:
                return None
            return solid[draws.below(len(solid))](draws, depth)

        return make

    def _kind(self, node: dict[str, Any], kind: str) -> Maker:
        if kind == "object":
            return self._object(node)
        if kind == "array":
            return self._array(node)
        if kind == "string":
            return string_maker(node)
        if kind == "integer":
            return integer_maker(node)
        if kind == "number":
            return number_maker(node)
        if kind == "boolean":
            return lambda draws, depth: draws.below(2) == 1
        if kind == "null":
            return lambda draws, depth: None
        raise SchemaError(f"unknown type {kind!r}; JSON Schema's are {', '.join(_TYPES)}")

    def _object(self, node: dict[str, Any]) -> Maker:
        properties = node.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = node.get("required")
        required = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        required = list(dict.fromkeys(required))
        extra = node.get("additionalProperties", True)
        if extra is False and any(name not in properties for name in required):
            raise SchemaError("a required property is not allowed (additionalProperties false)")
        most = node.get("maxProperties")
        if isinstance(most, int) and len(required) > most:
            raise SchemaError("the required properties outnumber maxProperties")
        needed = [(name, self.maker(properties.get(name, extra))) for name in required]
        optional = [(n, self.maker(s)) for n, s in properties.items() if n not in required]
        least = whole(node.get("minProperties"), 0)
        if least > len(properties) + len(required) and extra is False:
            raise SchemaError("minProperties asks for more properties than the schema allows")
        if least > MAX_VALUES:
            raise SchemaError(f"minProperties {least} is beyond the generator's {MAX_VALUES}")
        spare = self.maker(extra) if least and extra is not False else None

        def make(draws: Draws, depth: int) -> dict[str, Any]:
            _check(draws, depth)
            deeper = depth + 1
            out: dict[str, Any] = {}
            for name, made in needed:  # a loop: a comprehension is one more frame on 3.11
                out[name] = made(draws, deeper)
            if depth < _SHALLOW:
                for name, made in optional:
                    if draws.below(2):
                        out[name] = made(draws, deeper)
            if len(out) < least:
                _fill(out, least, optional, spare, draws, deeper)
            return out

        return make

    def _array(self, node: dict[str, Any]) -> Maker:
        prefix = node.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = node.get("items", True)
        least = whole(node.get("minItems"), 0)
        most = whole(node.get("maxItems"), -1)
        if items is False:  # nothing beyond the prefix
            most = len(prefix) if most < 0 else min(most, len(prefix))
        if least > MAX_VALUES:
            raise SchemaError(f"minItems {least} is beyond the generator's {MAX_VALUES} values")
        if 0 <= most < least:
            raise SchemaError(f"maxItems {most} is below minItems {least}")
        firsts = [self.maker(p) for p in prefix]
        rest = self.maker(items) if items is not False else None
        unique = node.get("uniqueItems") is True

        def make(draws: Draws, depth: int) -> list[Any]:
            spare = 0 if depth >= _SHALLOW else draws.below(3)
            length = least + spare if most < 0 else min(most, least + spare)
            _check(draws, depth, 1 + length)  # the items too: containers among them count again
            deeper = depth + 1
            if not firsts and not unique:
                return [rest(draws, deeper) for _ in range(length)]  # type: ignore[misc]
            makers = [firsts[i] if i < len(firsts) else rest for i in range(length)]
            if unique:
                return _unique(makers, least, draws, deeper)  # type: ignore[arg-type]
            return [made(draws, deeper) for made in makers]  # type: ignore[misc]

        return make


def _inferred(node: Mapping[str, Any]) -> str:
    """The type a schema without ``type`` describes, from its keywords (a string if none)."""
    if "properties" in node or "required" in node or "additionalProperties" in node:
        return "object"
    if "items" in node or "prefixItems" in node or "minItems" in node:
        return "array"
    if any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "string"


def _fill(
    out: dict[str, Any],
    least: int,
    optional: list[tuple[str, Maker]],
    spare: Maker | None,
    draws: Draws,
    depth: int,
) -> None:
    """Add properties up to ``minProperties``: the optional ones, then made-up names."""
    for name, made in optional:
        if len(out) >= least:
            return
        if name not in out:
            out[name] = made(draws, depth)
    number = 0
    while len(out) < least and spare is not None:
        number += 1
        name = f"field_{number}"
        if name not in out and all(name != n for n, _ in optional):
            out[name] = spare(draws, depth)
    if len(out) < least:
        raise SchemaError("minProperties asks for more properties than the schema allows")


def _unique(makers: list[Maker], least: int, draws: Draws, depth: int) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for made in makers:
        for _ in range(16):  # distinct values by drawing again; a small enum may run out
            value = made(draws, depth)
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


def compile_schema(schema: object) -> Callable[[int], Any]:
    """``schema`` (a JSON Schema as decoded JSON) compiled into a function from a seed to a
    value satisfying it. Raises `SchemaError` for a schema nothing satisfies; the function
    raises it for a value that would exceed `MAX_VALUES` values or recurse without end.

        make = compile_schema({"type": "integer", "minimum": 3, "maximum": 5})
        make(1), make(2)     # each 3, 4 or 5
    """
    try:
        maker = _Compiler(schema).maker(schema)
    except RecursionError:  # nesting deeper than the interpreter's stack
        raise SchemaError("the schema nests too deeply to compile") from None
    except OverflowError:  # bounds over a step so small that the multiples are past counting
        raise SchemaError("the schema's bounds and multipleOf are out of range") from None

    def make(seed: int) -> Any:
        try:
            return maker(Draws(seed), 0)
        except RecursionError:  # unions that name each other without a value between
            raise SchemaError("the schema recurses without making a value") from None

    return make


def schema_instance(schema: object, seed: int) -> Any:
    """A JSON value satisfying ``schema``, the same for the same ``seed``: `compile_schema`
    for one value.

        schema_instance({"type": "integer", "minimum": 3, "maximum": 5}, seed=1)   # 3, 4 or 5
    """
    return compile_schema(schema)(seed)
