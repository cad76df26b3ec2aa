"""The errors of `sluice.llm`, and how an HTTP response becomes one.

Every failure of an LLM call is translated here (``raise ... from`` the transport's own
exception), so callers catch one tree whatever the transport::

    SluiceError
     └── LLMError                          .status .request_id .message .code .retry_after
          ├── APIStatusError               any other HTTP error status (408/409 retryable)
          │    ├── BadRequestError         400, 422                            not retryable
          │    │    ├── ContextLengthExceededError   the prompt does not fit the model
          │    │    └── ContentPolicyError           refused by a content filter
          │    ├── AuthenticationError     401                                 not retryable
          │    ├── PermissionDeniedError   403                                 not retryable
          │    ├── NotFoundError           404                                 not retryable
          │    ├── RateLimitError          429          retryable, overloaded, retry_after
          │    └── ServerError             500, 502, 504 and other 5xx         retryable
          │         └── ServiceUnavailableError  503, 529               retryable, overloaded
          ├── APIConnectionError           (also ConnectionError) no answer     retryable
          ├── APITimeoutError              (also TimeoutError) the transport timed out, retryable
          ├── MalformedResponseError       the body is not what the API sends     retryable
          │    └── ResponseTooLargeError   a body or stream event over the limit not retryable
          ├── StreamInterrupted            failed after tokens were delivered  not retryable
          └── ClientClosedError            (also RuntimeError) the client was closed

The attributes ``retryable``, ``retry_after`` and ``overloaded`` are the error protocol the
gate reads (see `sluice._errors`): the retry waits exactly as long as Retry-After asks, and a
503/529, or a 429 once the quota is spent, pauses every new call of the gate for that long
(capped at ``max_retry_after``). A server may override the
classification with the ``x-should-retry: true|false`` header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import SluiceError
from ..openai import ErrorBody, decode_error, parse_request_id, parse_retry_after
from ..openai._error_body import error_fields

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ContentPolicyError",
    "ContextLengthExceededError",
    "LLMError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamInterrupted",
    "error_for_status",
    "error_in_body",
    "malformed",
    "redact",
    "redact_error",
]

_EXCERPT = 200  # bytes of a bad body quoted in an error message


class LLMError(SluiceError):
    """Base class of the errors of `sluice.llm`.

    ``status`` is the HTTP status (None when no response came), ``request_id`` the server's
    request id, ``message`` the server's own explanation (or ours when it gave none),
    ``headers`` the response's rate-limit and retry headers (what `sluice.classify_error`
    reads: a 429 whose budget is spent is paced by the rate limit, not a concurrency drop).

        try:
            await client.chat(model="m", messages=msgs)
        except sluice.llm.LLMError as exc:
            print(exc.status, exc.request_id, exc.message)
    """

    retryable: bool = False
    overloaded: bool = False

    def __init__(
        self,
        text: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        message: str | None = None,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.request_id = request_id
        self.message = text if message is None else message
        self.code = code
        self.error_type = error_type
        self.param = param
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = {} if headers is None else headers

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive pickling by default (process pools, logs).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[LLMError], args: tuple[Any, ...], state: dict[str, Any]) -> LLMError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class APIStatusError(LLMError):
    """The server answered with an error status; this class covers statuses without a
    class of their own (408 and 409 are retryable, like the OpenAI SDK treats them)."""

    status: int

    def __init__(self, text: str, *, status: int, **fields: Any) -> None:
        super().__init__(text, status=status, **fields)
        if type(self) is APIStatusError:
            self.retryable = status in (408, 409) or status >= 500


class BadRequestError(APIStatusError):
    """400 (or 422): the request is invalid; sending it again will not help."""


class ContextLengthExceededError(BadRequestError):
    """The prompt plus ``max_tokens`` is longer than the model's context window."""


class ContentPolicyError(BadRequestError):
    """The request was refused by the provider's content filter."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or endpoint."""


class NotFoundError(APIStatusError):
    """404: unknown model or endpoint (check ``base_url``: it usually ends in ``/v1``)."""


class RateLimitError(APIStatusError):
    """429: too many requests or tokens; ``retry_after`` says how long the server asked for."""

    retryable = True
    overloaded = True


class ServerError(APIStatusError):
    """A 5xx status: the server failed; another attempt may succeed."""

    retryable = True


class ServiceUnavailableError(ServerError):
    """503 or 529: the server is overloaded and shedding load."""

    overloaded = True


class APIConnectionError(LLMError, ConnectionError):
    """No usable answer: the connection failed, was refused, or broke mid-response."""

    retryable = True


class APITimeoutError(LLMError, TimeoutError):
    """The transport gave up waiting (connecting, or for data)."""

    retryable = True


class MalformedResponseError(LLMError):
    """The body is not what an OpenAI-compatible API sends (not JSON, wrong shape, a cut
    stream). Retryable: it is usually a proxy or a server fault, not the request's."""

    retryable = True


class ResponseTooLargeError(MalformedResponseError):
    """The answer is larger than the client accepts: a body over the transport's
    ``max_body_size``, or a stream event over the client's ``max_event_size``. Not retryable:
    the same request would bring the same answer (raise the limit if it is a real one)."""

    retryable = False


class StreamInterrupted(LLMError):
    """A stream failed after some of it had been delivered; it is not retried, because the
    caller has already seen part of an answer that a new attempt would not reproduce.

    ``text`` is what was received, ``deltas`` how many deltas; the cause is chained.
    """

    def __init__(self, text: str, *, received: str, deltas: int, **fields: Any) -> None:
        super().__init__(text, **fields)
        self.text = received
        self.deltas = deltas


class ClientClosedError(LLMError, RuntimeError):
    """The client was closed; nothing was sent."""


# ------------------------------------------------------------------ building errors
_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    529: ServiceUnavailableError,
}
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_PHRASES = ("maximum context length", "context length", "context window")
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "content_filtered"})


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``[redacted]``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def redact_error(error: LLMError, secrets: Iterable[str]) -> LLMError:
    """``error`` with every secret taken out of its message (a transport's own error text may
    quote what it was sent); the same object, changed in place."""
    secrets = tuple(secrets)
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    error.message = redact(error.message, secrets)
    return error


def _status_class(status: int, code: str | None, message: str | None) -> type[APIStatusError]:
    cls = _BY_STATUS.get(status)
    if cls is None:
        return ServerError if status >= 500 else APIStatusError
    if cls is BadRequestError:
        lowered = (message or "").lower()
        if code in _CONTEXT_CODES or any(p in lowered for p in _CONTEXT_PHRASES):
            return ContextLengthExceededError
        if code in _POLICY_CODES or "content management policy" in lowered:
            return ContentPolicyError
    return cls


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    secrets: Iterable[str] = (),
) -> APIStatusError:
    """The error for an HTTP error response; the message names status, URL and request id,
    and never contains a secret."""
    return _status_error(status, headers, decode_error(body), url, secrets)


def error_in_body(
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    url: str,
    secrets: Iterable[str] = (),
) -> APIStatusError:
    """The error for an ``{"error": ...}`` object sent with a success status (a stream event
    of vLLM and others, or a proxy's answer): its ``code`` gives the status when it is one,
    else it counts as a server error."""
    error = body.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    return _status_error(status, headers, error_fields(body), url, secrets)


def _status_error(
    status: int,
    headers: Mapping[str, str],
    fields: ErrorBody,
    url: str,
    secrets: Iterable[str],
) -> APIStatusError:
    secrets = tuple(secrets)
    message, code = fields.message, fields.code
    if message is not None:
        message = redact(message, secrets)
    cls = _status_class(status, code, message)
    request_id = parse_request_id(headers)
    retry_after = parse_retry_after(headers)
    text = f"HTTP {status} from {url}: {message or 'no error message'}"
    details = [f"request id {request_id}"] if request_id else []
    if retry_after is not None:
        details.append(f"retry after {retry_after:g}s")
    if details:
        text += f" ({'; '.join(details)})"
    error = cls(
        text,
        status=status,
        request_id=request_id,
        message=message,
        code=code,
        error_type=fields.type,
        param=fields.param,
        retry_after=retry_after,
        headers=_limit_headers(headers),
    )
    should_retry = headers.get("x-should-retry")
    if should_retry == "true":
        error.retryable = True
    elif should_retry == "false":
        error.retryable = False
    return error


# Only these travel with an error: they say why it was refused and when to come back, and
# carry nothing private (no cookies, no echoed credentials).
_LIMIT_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after", "x-should-retry")


def _limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in headers.items()
        if name.lower().startswith(_LIMIT_HEADER_PREFIXES)
    }


def malformed(
    reason: str,
    *,
    status: int,
    body: bytes,
    url: str,
    headers: Mapping[str, str],
    secrets: Iterable[str] = (),
) -> MalformedResponseError:
    """The error for a body that could not be understood: status and its first bytes."""
    excerpt = redact(repr(body[:_EXCERPT]), secrets)
    more = f" (of {len(body)})" if len(body) > _EXCERPT else ""
    request_id = parse_request_id(headers)
    text = (
        f"HTTP {status} from {url}: {reason}; first bytes{more}: {excerpt}. "
        "Is base_url an OpenAI-compatible API (usually ending in /v1)?"
    )
    if request_id:
        text += f" (request id {request_id})"
    return MalformedResponseError(text, status=status, request_id=request_id, message=reason)
