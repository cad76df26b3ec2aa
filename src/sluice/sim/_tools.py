"""Tools and structured outputs, whichever API asked for them: the checked, compiled
definitions every endpoint answers from (chat's ``tools`` / ``response_format``, the Responses
API's ``tools`` / ``text.format``, the Messages API's ``tools``).

Each endpoint reads its own shapes into these values; which calls answer is `_tool_calls`'
business, the answer itself `_answer`'s. A schema is compiled once per distinct definition (a
bounded cache, `cached_definitions`): requests that share their tools pay for checking and
compiling them once.

    spec = tool_spec("lookup", {"type": "object", "properties": {}}, strict=False)
    spec.arguments(7)          # a value satisfying the parameters, the same for seed 7
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..openai import SchemaError, compile_schema, encode_json
from ..openai._fast import builder
from ._content import count_tokens
from ._json import dumps
from ._request_error import invalid
from ._strict import check_strict

__all__ = [
    "Definitions",
    "OutputFormat",
    "Structured",
    "ToolSpec",
    "cached_definitions",
    "check_name",
    "definitions_tokens",
    "make_structured",
    "schema_format",
    "tool_spec",
    "unique_tools",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_OBJECT = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name, and ``arguments``, which makes a value
    satisfying its parameters' schema from a seed (see `tool_spec`)."""

    name: str
    arguments: Callable[[int], Any]
    strict: bool = False


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """A structured output: ``json_object`` (any object; ``content`` None) or
    ``json_schema`` (``content`` makes a value satisfying the schema from a seed)."""

    kind: str
    name: str = ""
    content: Callable[[int], Any] | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class Structured:
    """What a request asks for beyond text. ``choice`` is ``none``, ``auto``, ``required``
    or the name of the function it forces; ``after_tool``: the last turn is a tool result."""

    tools: tuple[ToolSpec, ...] = ()
    choice: str = "none"
    parallel: bool = True
    output: OutputFormat | None = None
    after_tool: bool = False


make_structured = builder(Structured)  # one per request: at the cost of a mutable value


@dataclass(frozen=True, slots=True)
class Definitions:
    """One request's checked and compiled tools and output format, and the prompt tokens
    the tool definitions cost."""

    tools: tuple[ToolSpec, ...]
    output: OutputFormat | None
    tokens: int


def check_name(value: object, where: str, param: str) -> str:
    """A function or format name as the APIs allow them; `RequestError` naming ``where``."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise invalid(
            f"{where} must be 1 to 64 letters, digits, underscores or dashes, got {value!r}"[:200],
            param,
        )
    return value


def _compiled(schema: Mapping[str, Any], what: str, param: str) -> Callable[[int], Any]:
    try:
        return compile_schema(schema)
    except SchemaError as exc:
        raise invalid(f"{what}: its schema cannot be satisfied: {exc}", param) from None


def tool_spec(
    name: str, parameters: Mapping[str, Any] | None, strict: bool, param: str = "tools"
) -> ToolSpec:
    """A function tool from its definition's parts (whichever API's shape they came in):
    the schema checked (strict rules when ``strict``) and compiled; `RequestError` (400,
    ``param``) if it is not a satisfiable object schema.

        spec = tool_spec("lookup", {"type": "object", "properties": {}}, strict=False)
    """
    schema = _OBJECT if parameters is None else parameters
    if strict:
        check_strict(schema, f"function {name!r}", param)
    if schema.get("type", "object") != "object":
        raise invalid(f"function {name!r}: its parameters must describe an object", param)
    if "type" not in schema:
        schema = {"type": "object", **schema}
    return ToolSpec(name, _compiled(schema, f"function {name!r}", param), strict)


def definitions_tokens(raw_tools: object) -> int:
    """The prompt tokens function tool definitions cost, chat's and the Responses API's
    alike: their JSON text (as the request gave it), by the simulator's tokenizer."""
    return count_tokens(encode_json(raw_tools).decode())


def unique_tools(specs: list[ToolSpec]) -> tuple[ToolSpec, ...]:
    """``specs``, or `RequestError` (400, ``tools``) when two share a name."""
    if len({spec.name for spec in specs}) != len(specs):
        raise invalid("tools: two tools share a name", "tools")
    return tuple(specs)


def schema_format(name: str, schema: Mapping[str, Any], strict: bool, param: str) -> OutputFormat:
    """A ``json_schema`` output format: checked (strict rules when ``strict``) and compiled;
    `RequestError` (400, ``param``) if no value satisfies it.

        schema_format("card", {"type": "object"}, strict=False, param="response_format")
    """
    what = f"{param} {name!r}"
    if strict:
        check_strict(schema, what, param)
    return OutputFormat("json_schema", name, _compiled(schema, what, param), strict)


class _DefinitionsCache:
    """Checked and compiled definitions by a key (the API and the names they declare), each
    entry kept with a type-exact image (JSON) of the definitions it was made from: a hit is the
    same image (so ``1``, ``1.0`` and ``true`` stay apart, as the client sent them), a miss (new,
    or changed under the same names) is built anew."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[tuple[str, ...], tuple[bytes, Definitions]] = OrderedDict()
        self._size = size

    def get(
        self,
        key: tuple[str, ...],
        raw_tools: object,
        raw_format: object,
        build: Callable[[], Definitions],
    ) -> Definitions:
        # Their JSON: it tells 1, 1.0 and true apart (== does not), in less than half of
        # marshal's time (benchmarks/bench_sim_json.py). Request bodies hold only what JSON
        # writes back exactly (no NaN: see _body), so equal images are equal values and a hit
        # is never wrong; an image that differs for equal values (keys in another order) is
        # only a miss.
        text = dumps([raw_tools, raw_format])  # RecursionError when nested past the stack
        entry = self._entries.get(key)
        if entry is not None and entry[0] == text:
            self._entries.move_to_end(key)
            return entry[1]
        definitions = build()
        self._entries[key] = (text, definitions)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return definitions


_CACHE = _DefinitionsCache(256)


def cached_definitions(
    key: tuple[str, ...],
    raw_tools: object,
    raw_format: object,
    build: Callable[[], Definitions],
    param: str,
) -> Definitions:
    """``build()``'s definitions of ``raw_tools`` and ``raw_format`` (the request's own
    JSON), or the ones built before from equal JSON under the same ``key``. A schema nested
    past the interpreter's stack is a `RequestError` naming ``param``."""
    try:
        return _CACHE.get(key, raw_tools, raw_format, build)
    except RecursionError:  # imaging or compiling a schema nested past the stack
        raise invalid(f"{param}: a schema nests too deeply", param) from None
