"""The Responses API in the client: `ResponseResult`, what a reply comes back as (its
request body is made by `_params.responses_body`, as chat's and embeddings' are).

reply = await send_json(wire, request, decode_response)
result = response_result(reply, latency=wire.clock() - start)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..openai import (
    FunctionCall,
    RateLimits,
    ResponseOutput,
    ResponseUsage,
    decode_response_usage,
    parse_request_id,
)
from ._wire import Reply

__all__ = ["ResponseResult", "response_result"]


@dataclass(frozen=True, slots=True)
class ResponseResult:
    """A response of the Responses API. ``status`` is the response's (``completed``, or
    ``incomplete`` with ``incomplete_reason``); ``http_status`` the HTTP one. ``text`` joins
    its messages' text; ``function_calls`` are the calls it asks for; ``output`` holds the
    output items as sent and ``raw`` the whole body.

        result = await client.responses(model="gpt-4.1-mini", input="Hi", tools=tools)
        for call in result.function_calls:
            follow_up.append(call.output(run(call.name, call.parsed_arguments())))
    """

    text: str
    function_calls: tuple[FunctionCall, ...]
    status: str | None
    incomplete_reason: str | None
    refusal: str | None
    usage: ResponseUsage | None
    model: str | None
    id: str | None
    output: tuple[Mapping[str, Any], ...]
    http_status: int
    request_id: str | None
    rate_limits: RateLimits | None
    latency: float
    ttfb: float
    headers: Mapping[str, str] = field(repr=False, compare=False)
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def response_result(reply: Reply, latency: float) -> ResponseResult:
    """The `ResponseResult` of a Responses reply (``reply.value`` from `decode_response`)."""
    output: ResponseOutput = reply.value
    data = reply.data
    return ResponseResult(
        text=output.text,
        function_calls=output.function_calls,
        status=output.status,
        incomplete_reason=output.incomplete_reason,
        refusal=output.refusal,
        usage=decode_response_usage(data.get("usage")),
        model=output.model,
        id=output.id,
        output=output.output,
        http_status=reply.status,
        request_id=parse_request_id(reply.headers),
        rate_limits=reply.rate_limits,
        latency=latency,
        ttfb=reply.ttfb,
        headers=reply.headers,
        raw=data,
    )
