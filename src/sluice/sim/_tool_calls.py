"""The tool calls that answer a request: which tools, with which arguments, under which ids.

The rule (shared by every endpoint that offers tools):

- ``tool_choice="none"``, or no tools: no call.
- ``"auto"`` (the default with tools): calls when the last message is not a tool result;
  after a tool result, the answer is text (or the response format's JSON).
- ``"required"``, or a named function: always calls (the named one).
- With ``parallel_tool_calls`` (the default) and two tools or more, ``auto`` and ``required``
  call two distinct tools; otherwise one. Which tools, and each call's arguments (generated
  from the tool's ``parameters`` schema), follow from the seed and the request.

    seed = call_seed(config.seed, model, prompt_key)
    calls = choose_calls(tools, "auto", parallel=True, after_tool=False, seed=seed)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..openai import SchemaError, ToolCall
from ..openai._fast import builder
from ._json import dumps
from ._request_error import RequestError
from ._tools import ToolSpec

__all__ = ["call_seed", "choose_calls"]

_tool_call = builder(ToolCall)  # a frozen value at the cost of a mutable one (see builder)


def call_seed(seed: int, model: str, prompt_key: bytes) -> int:
    """The 64-bit seed of one request's structured answer."""
    digest = hashlib.blake2b(
        f"{seed}\x00{model}\x00".encode() + prompt_key, digest_size=8, person=b"sim-tool"
    ).digest()
    return int.from_bytes(digest, "little")


def _call_id(seed: int, index: int) -> str:
    """24 hex digits, unique to the request (its seed) and the call's place."""
    mixed = ((seed ^ (index + 1)) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return f"call_{seed:016x}{mixed >> 32:08x}"


def choose_calls(
    tools: Sequence[ToolSpec], choice: str, parallel: bool, after_tool: bool, seed: int
) -> tuple[ToolCall, ...]:
    """The calls that answer (see the module docstring for the rule); empty for a text
    answer. Arguments satisfy each tool's schema; `RequestError` (400) when making them
    goes past the generator's bounds."""
    if not tools or choice == "none" or (choice == "auto" and after_tool):
        return ()
    if choice not in ("auto", "required"):
        chosen = [next(tool for tool in tools if tool.name == choice)]
    else:
        first = seed % len(tools)
        chosen = [tools[first]]
        if parallel and len(tools) > 1:
            chosen.append(tools[(first + 1 + (seed >> 16) % (len(tools) - 1)) % len(tools)])
    calls = []
    for index, tool in enumerate(chosen):
        try:
            arguments = tool.arguments(seed + index + 1)
        except SchemaError as exc:
            message = f"function {tool.name!r}: its parameters schema: {exc}"
            raise RequestError(400, message, param="tools") from None
        text = dumps(arguments).decode()
        calls.append(_tool_call(_call_id(seed, index), tool.name, text, "function"))
    return tuple(calls)
