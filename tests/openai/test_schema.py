"""Generated instances satisfy their schema (checked by jsonschema), deterministically."""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any, Literal

import jsonschema
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.openai import SchemaError, schema_instance

FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def valid(schema: Any, instance: Any) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=FORMAT_CHECKER).validate(instance)


names = st.sampled_from(["a", "b", "city", "count", "tags", "x_y", "long name"])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4), st.floats(-3, 3)
)


@st.composite
def integer_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    low = draw(st.none() | st.integers(-1000, 1000))
    high = draw(st.none() | st.integers(-1000, 1000))
    if low is not None and high is not None and low > high:
        low, high = high, low
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if high is not None:
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = high
    if low is not None and high is not None and high - low < 2:
        schema.pop("exclusiveMinimum", None)
        schema.pop("exclusiveMaximum", None)
        schema.update(minimum=low, maximum=high)
    if draw(st.booleans()) and (low is None or high is None or high - low > 20):
        schema["multipleOf"] = draw(st.integers(1, 7))
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    low = draw(st.none() | st.floats(-1e6, 1e6))
    high = draw(st.none() | st.floats(-1e6, 1e6))
    if low is not None and high is not None:
        low, high = min(low, high), max(low, high)
        if high - low < 1e-3:
            return {**schema, "minimum": low, "maximum": low}
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if high is not None:
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = high
    if draw(st.booleans()) and (low is None or high is None or high - low > 10):
        schema["multipleOf"] = draw(st.sampled_from([0.5, 0.25, 2, 0.1]))
    return schema


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    form = draw(st.sampled_from([None, "date-time", "date", "email", "uuid", "uri", "ipv4"]))
    if form is not None:
        return {**schema, "format": form}
    low = draw(st.none() | st.integers(0, 30))
    high = draw(st.none() | st.integers(0, 30))
    if low is not None and high is not None and low > high:
        low, high = high, low
    if low is not None:
        schema["minLength"] = low
    if high is not None:
        schema["maxLength"] = high
    return schema


leaves = st.one_of(
    integer_schemas(),
    number_schemas(),
    string_schemas(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(scalars, min_size=1, max_size=4).map(lambda values: {"enum": values}),
    scalars.map(lambda value: {"const": value}),
)


def containers(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        properties = draw(st.dictionaries(names, children, max_size=4))
        required = (
            draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
        )
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        elif draw(st.booleans()):
            schema["minProperties"] = draw(st.integers(0, 6))
        return schema

    @st.composite
    def arrays(draw: st.DrawFn) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": draw(children)}
        low = draw(st.integers(0, 4))
        schema["minItems"] = low
        if draw(st.booleans()):
            schema["maxItems"] = low + draw(st.integers(0, 3))
        return schema

    unions = st.lists(children, min_size=1, max_size=3).map(lambda options: {"anyOf": options})
    nullable = children.map(lambda child: {"anyOf": [child, {"type": "null"}]})
    return st.one_of(objects(), arrays(), unions, nullable)


schemas = st.recursive(leaves, containers, max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(schemas, st.integers(0, 2**64 - 1))
def test_every_generated_instance_satisfies_its_schema(schema: dict[str, Any], seed: int) -> None:
    try:
        instance = schema_instance(schema, seed)
    except SchemaError:
        # Only when nothing satisfies the schema (jsonschema agrees: a const or enum clash
        # cannot arise here, so it must be the object's property bounds).
        assert schema.get("additionalProperties") is False or "minProperties" in str(schema)
        return
    valid(schema, instance)
    assert schema_instance(schema, seed) == instance  # deterministic


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_refs_and_recursion_as_pydantic_emits_them(seed: int) -> None:
    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"

    class Node(pydantic.BaseModel):
        name: str = pydantic.Field(min_length=2, max_length=12)
        weight: float = pydantic.Field(ge=0, lt=1)
        children: list[Node] = []
        parent: Node | None = None

    class Event(pydantic.BaseModel):
        id: uuid.UUID
        at: datetime.datetime
        on: datetime.date
        kind: Literal["start", "stop"]
        colour: Colour
        count: int = pydantic.Field(gt=-3, le=40, multiple_of=4)
        tree: Node
        tags: list[str] = pydantic.Field(min_length=1, max_length=3)
        extra: dict[str, int] = {}

    schema = Event.model_json_schema()
    instance = schema_instance(schema, seed)
    valid(schema, instance)
    Event.model_validate(instance)


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (False, "false"),
        ({"enum": []}, "enum"),
        ({"type": "integer", "minimum": 3, "maximum": 2}, "integer"),
        ({"type": "string", "minLength": 5, "maxLength": 2}, "maxLength"),
        ({"type": "array", "minItems": 10**9}, "minItems"),
        ({"$ref": "#/$defs/missing"}, "does not resolve"),
        ({"$ref": "https://example.com/schema"}, "outside"),
        ({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}, "does not end"),
        ({"type": "widget"}, "unknown type"),
        (
            {
                "$defs": {
                    "n": {
                        "type": "object",
                        "properties": {"n": {"$ref": "#/$defs/n"}},
                        "required": ["n"],
                    }
                },
                "$ref": "#/$defs/n",
            },
            "nests deeper",
        ),
    ],
)
def test_unsatisfiable_schemas_raise_naming_the_problem(schema: Any, problem: str) -> None:
    with pytest.raises(SchemaError, match=problem):
        schema_instance(schema, 1)


def test_different_seeds_give_different_values() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert len({schema_instance(schema, seed)["a"] for seed in range(20)}) > 5
