"""Structured answers read back: the JSON content a ``response_format`` asked for.

A model's JSON is only as good as its answer: one cut off by ``max_tokens`` (finish reason
``length``) or a refusal has none, and says so instead of failing deep in a JSON decoder.

    result = await client.chat(model="m", messages=msgs, response_format=format_)
    value = result.json()     # the decoded object; ValueError naming why there is none
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["content_json"]


def content_json(text: str, finish_reason: str | None, refusal: str | None) -> Any:
    """``text`` decoded from JSON; ValueError when the answer is a refusal, was cut short,
    or is not JSON."""
    if refusal:
        raise ValueError(f"the model refused, so there is no JSON content: {refusal!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if finish_reason == "length":
            raise ValueError(
                "the answer was cut off (finish_reason 'length') before its JSON was complete: "
                "raise max_tokens / max_completion_tokens"
            ) from exc
        raise ValueError(f"the answer's content is not JSON ({exc}): {text[:80]!r}") from exc
