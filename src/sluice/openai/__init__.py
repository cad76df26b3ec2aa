"""sluice.openai: the OpenAI-compatible API as data, without any I/O.

Bytes and header mappings in, typed values out, and back: Server-Sent Events, rate-limit and
Retry-After headers, error bodies, completions, stream chunks, embeddings, model lists, and
the Responses API's objects and streamed events.
No sockets and no event loop, standard library only: `sluice.llm` (the client) and
`sluice.sim` (the simulated server) both speak through it, and so can any other transport.

    decoder = SSEDecoder()
    for event in decoder.feed(chunk):           # bytes from any transport, any chunking
        if event.data != DONE:
            deltas = decode_chunk(json.loads(event.data))
    limits = parse_rate_limits(response_headers)  # RateLimits, or None
"""

from __future__ import annotations

from ._decode import (
    ShapeError,
    decode_chat,
    decode_chunk,
    decode_embedding_base64,
    decode_embeddings,
    decode_models,
    decode_usage,
)
from ._encode import (
    ChunkEncoder,
    completion_object,
    embeddings_object,
    encode_completion,
    encode_embedding_base64,
    encode_embeddings,
    encode_model,
    encode_models,
)
from ._error_body import decode_error, encode_error
from ._headers import (
    format_duration,
    format_rate_limits,
    format_retry_after,
    parse_duration,
    parse_rate_limits,
    parse_request_id,
    parse_retry_after,
)
from ._json import decode_object, encode_json, encode_json_ascii
from ._responses import (
    TERMINAL_EVENTS,
    FunctionCall,
    ResponseEvent,
    ResponseOutput,
    ResponseUsage,
    decode_response,
    decode_response_event,
    decode_response_usage,
)
from ._responses_encode import (
    ResponseEventEncoder,
    encode_response,
    function_call_item,
    message_item,
    refusal_item,
    response_object,
    response_usage,
)
from ._schema import MAX_VALUES, SchemaError, compile_schema, schema_instance
from ._sse import (
    DONE,
    DONE_EVENT,
    MAX_EVENT_SIZE,
    EventTooLarge,
    ServerSentEvent,
    SSEDecoder,
    encode_sse,
)
from ._types import (
    ChatDelta,
    Choice,
    ErrorBody,
    Model,
    RateLimits,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ._url import basic_authorization, public_url, split_credentials

__all__ = [
    "DONE",
    "DONE_EVENT",
    "MAX_EVENT_SIZE",
    "MAX_VALUES",
    "TERMINAL_EVENTS",
    "ChatDelta",
    "Choice",
    "ChunkEncoder",
    "ErrorBody",
    "EventTooLarge",
    "FunctionCall",
    "Model",
    "RateLimits",
    "ResponseEvent",
    "ResponseEventEncoder",
    "ResponseOutput",
    "ResponseUsage",
    "SSEDecoder",
    "SchemaError",
    "ServerSentEvent",
    "ShapeError",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "basic_authorization",
    "compile_schema",
    "completion_object",
    "decode_chat",
    "decode_chunk",
    "decode_embedding_base64",
    "decode_embeddings",
    "decode_error",
    "decode_models",
    "decode_object",
    "decode_response",
    "decode_response_event",
    "decode_response_usage",
    "decode_usage",
    "embeddings_object",
    "encode_completion",
    "encode_embedding_base64",
    "encode_embeddings",
    "encode_error",
    "encode_json",
    "encode_json_ascii",
    "encode_model",
    "encode_models",
    "encode_response",
    "encode_sse",
    "format_duration",
    "format_rate_limits",
    "format_retry_after",
    "function_call_item",
    "message_item",
    "parse_duration",
    "parse_rate_limits",
    "parse_request_id",
    "parse_retry_after",
    "public_url",
    "refusal_item",
    "response_object",
    "response_usage",
    "schema_instance",
    "split_credentials",
]

# Tracebacks and reprs show the public path (sluice.openai.Usage), not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
