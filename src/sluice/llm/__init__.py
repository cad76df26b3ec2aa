"""sluice.llm: an async client for OpenAI-compatible APIs, with flow control built in.

Every call goes through a `sluice.Gate` (concurrency, rate limits learned from the server's
headers, retries honouring Retry-After, a circuit breaker, timeouts) over a pooled aiohttp
session. Results are typed; streams record time to first token and inter-token gaps; errors
form one tree under `sluice.SluiceError`. Needs the ``http`` extra (aiohttp).

    async with sluice.llm.Client("http://127.0.0.1:8000/v1", api_key="sk-test") as client:
        result = await client.chat(model="sim-model", messages=[{"role": "user", "content": "Hi"}])
        print(result.text, result.usage.total_tokens, result.latency)
        answer = await client.responses(model="sim-model", input="Hi")   # the Responses API
"""

try:
    import aiohttp as _aiohttp  # noqa: F401 - only checking that it is there
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "sluice.llm needs aiohttp, which is not installed: pip install 'aiosluice[http]'"
    ) from _exc

import contextlib

from ..openai import (
    ChatDelta,
    Choice,
    FunctionCall,
    Model,
    RateLimits,
    ResponseEvent,
    ResponseOutput,
    ResponseUsage,
    ToolCall,
    ToolCallDelta,
    Usage,
    parse_duration,
    parse_rate_limits,
    parse_retry_after,
)
from ._client import Client
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ContentPolicyError,
    ContextLengthExceededError,
    LLMError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    ServiceUnavailableError,
    StreamInterrupted,
)
from ._fanout import Results
from ._loops import BlockingCallWarning
from ._mock import MockResponse, MockTransport
from ._responses import ResponseResult
from ._responses_stream import ResponseStream
from ._responses_sync import SyncResponseStream
from ._settings import llm_failure
from ._stream import ChatStream
from ._sync import SyncChatStream
from ._tokens import TokenEstimator, estimate_tokens, estimate_tokens_by_chars
from ._transport import AiohttpTransport, Request, Response, Transport
from ._types import ChatResult, ClientStatistics, Embeddings, RawResult

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AiohttpTransport",
    "AuthenticationError",
    "BadRequestError",
    "BlockingCallWarning",
    "ChatDelta",
    "ChatResult",
    "ChatStream",
    "Choice",
    "Client",
    "ClientClosedError",
    "ClientStatistics",
    "ContentPolicyError",
    "ContextLengthExceededError",
    "Embeddings",
    "FunctionCall",
    "LLMError",
    "MalformedResponseError",
    "MockResponse",
    "MockTransport",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimits",
    "RawResult",
    "Request",
    "Response",
    "ResponseEvent",
    "ResponseOutput",
    "ResponseResult",
    "ResponseStream",
    "ResponseTooLargeError",
    "ResponseUsage",
    "Results",
    "ServerError",
    "ServiceUnavailableError",
    "StreamInterrupted",
    "SyncChatStream",
    "SyncResponseStream",
    "TokenEstimator",
    "ToolCall",
    "ToolCallDelta",
    "Transport",
    "Usage",
    "estimate_tokens",
    "estimate_tokens_by_chars",
    "llm_failure",
    "parse_duration",
    "parse_rate_limits",
    "parse_retry_after",
]

# Tracebacks and reprs show the public path (sluice.llm.Client), not the private module;
# what comes from sluice.openai keeps its own.
for _name in __all__:
    _obj = globals()[_name]
    if (isinstance(_obj, type) or callable(_obj)) and _obj.__module__.startswith(__name__ + "."):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = __name__
del _name, _obj, contextlib
