"""sluice.openai: the OpenAI-compatible API as data, without any I/O.

Bytes and header mappings in, typed values out, and back: Server-Sent Events, rate-limit and
Retry-After headers, error bodies, completions, stream chunks, embeddings and model lists.
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
from ._json import decode_object, encode_json
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
    "ChatDelta",
    "Choice",
    "ChunkEncoder",
    "ErrorBody",
    "EventTooLarge",
    "Model",
    "RateLimits",
    "SSEDecoder",
    "SchemaError",
    "ServerSentEvent",
    "ShapeError",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "basic_authorization",
    "compile_schema",
    "decode_chat",
    "decode_chunk",
    "decode_embedding_base64",
    "decode_embeddings",
    "decode_error",
    "decode_models",
    "decode_object",
    "decode_usage",
    "encode_completion",
    "encode_embedding_base64",
    "encode_embeddings",
    "encode_error",
    "encode_json",
    "encode_model",
    "encode_models",
    "encode_sse",
    "format_duration",
    "format_rate_limits",
    "format_retry_after",
    "parse_duration",
    "parse_rate_limits",
    "parse_request_id",
    "parse_retry_after",
    "public_url",
    "schema_instance",
    "split_credentials",
]

# Tracebacks and reprs show the public path (sluice.openai.Usage), not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
