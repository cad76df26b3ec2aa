"""The rules of strict mode (``"strict": true`` on a tool or a ``json_schema`` format), as the
API enforces them before answering: the root is an object, and every object closes
(``additionalProperties: false``) and requires every one of its properties.

    check_strict(schema, "response_format 'answer'", "response_format")   # or RequestError
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._request_error import invalid

__all__ = ["check_strict"]


def check_strict(schema: Mapping[str, Any], what: str, param: str) -> None:
    """The rules of strict mode: every object closes (``additionalProperties: false``) and
    requires every property; the root is an object. `RequestError` naming the place."""
    if schema.get("type") != "object" and "anyOf" in schema:
        raise invalid(f"Invalid schema for {what}: the root must be an object, not anyOf", param)
    pending: list[tuple[object, str]] = [(schema, "()")]
    seen = 0
    while pending:
        node, context = pending.pop()
        seen += 1
        if seen > 10_000 or not isinstance(node, dict):
            continue
        properties = node.get("properties")
        if node.get("type") == "object" or isinstance(properties, dict):
            if node.get("additionalProperties") is not False:
                raise invalid(
                    f"Invalid schema for {what}: in context={context}, 'additionalProperties' "
                    "must be given and be false",
                    param,
                )
            missing = [key for key in (properties or {}) if key not in (node.get("required") or ())]
            if missing:
                raise invalid(
                    f"Invalid schema for {what}: in context={context}, 'required' must list "
                    f"every key in properties; missing {missing[0]!r}",
                    param,
                )
        for key in ("properties", "$defs", "definitions"):
            children = node.get(key)
            if isinstance(children, dict):
                pending += [(sub, f"{context}/{key}/{name}") for name, sub in children.items()]
        for key in ("anyOf", "allOf", "prefixItems"):
            children = node.get(key)
            if isinstance(children, list):
                pending += [(sub, f"{context}/{key}/{i}") for i, sub in enumerate(children)]
        if isinstance(node.get("items"), dict):
            pending.append((node["items"], f"{context}/items"))
