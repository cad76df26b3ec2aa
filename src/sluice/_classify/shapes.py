"""Where the error types of common client libraries keep the HTTP status and headers, and how
their names say "timeout" or "connection lost" — read by shape, with none of them imported.

- status: ``status_code`` (openai, anthropic, litellm, httpx's response), ``status``
  (aiohttp), ``code`` (urllib's HTTPError, google-genai), or the same on ``response``;
  botocore's ``response["ResponseMetadata"]["HTTPStatusCode"]``;
- headers: ``response.headers`` (openai, anthropic, httpx, requests), ``headers`` (aiohttp,
  urllib), botocore's ``response["ResponseMetadata"]["HTTPHeaders"]``;
- families: a class in the error's MRO named like a timeout (``ReadTimeout``,
  ``APITimeoutError``, ``ServerTimeoutError``...) or a lost connection (``ConnectError``,
  ``APIConnectionError``, ``ServerDisconnectedError``, ``RemoteProtocolError``...).

    status_of(openai.RateLimitError(...))      # 429
    family_of(httpx.ReadTimeout("..."))       # "timeout"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

__all__ = ["aws_code", "family_of", "headers_of", "status_name", "status_of"]

Family = Literal["timeout", "connection"]

_STATUS_ATTRIBUTES = ("status_code", "status", "http_status", "code")
_TIMEOUT_NAME = re.compile(r"Timeout|TimedOut")
# A connection that failed, dropped or broke off mid-answer (names seen in httpx, requests,
# urllib3, aiohttp, botocore and the SDKs built on them).
_CONNECTION_NAME = re.compile(
    r"Connect|Disconnect|RemoteProtocolError|IncompleteRead|ChunkedEncodingError"
    r"|ClientPayloadError|ClientOSError|URLError"
)
# A certificate that does not verify will not verify on the next attempt either.
_PERMANENT_NAME = re.compile(r"Certificate|CertVerification")


def _attribute(owner: object, name: str) -> object:
    try:
        return getattr(owner, name, None)
    except Exception:  # a property that raises tells us nothing
        return None


def _status(value: object) -> int | None:
    if type(value) is int and 100 <= value <= 599:
        return value
    return None


def _aws_metadata(response: Mapping[object, object]) -> Mapping[object, object] | None:
    metadata = response.get("ResponseMetadata")
    return metadata if isinstance(metadata, Mapping) else None


def status_of(error: BaseException) -> int | None:
    """The HTTP status ``error`` carries, if any (100-599)."""
    for name in _STATUS_ATTRIBUTES:
        status = _status(_attribute(error, name))
        if status is not None:
            return status
    response = _attribute(error, "response")
    if response is None:
        return None
    if isinstance(response, Mapping):  # botocore's ClientError
        metadata = _aws_metadata(response)
        return None if metadata is None else _status(metadata.get("HTTPStatusCode"))
    for name in ("status_code", "status"):
        status = _status(_attribute(response, name))
        if status is not None:
            return status
    return None


def headers_of(error: BaseException) -> object:
    """The response headers ``error`` carries (a mapping of some kind), or ``None``."""
    response = _attribute(error, "response")
    if isinstance(response, Mapping):
        metadata = _aws_metadata(response)
        return None if metadata is None else metadata.get("HTTPHeaders")
    if response is not None:
        headers = _attribute(response, "headers")
        if headers is not None:
            return headers
    return _attribute(error, "headers")


def aws_code(error: BaseException) -> str | None:
    """botocore's error code (``ThrottlingException``...), read from ``response["Error"]``."""
    response = _attribute(error, "response")
    if not isinstance(response, Mapping):
        return None
    details = response.get("Error")
    if not isinstance(details, Mapping):
        return None
    code = details.get("Code")
    return code if isinstance(code, str) else None


def status_name(error: BaseException) -> str | None:
    """A gRPC-style status name (google's ``RESOURCE_EXHAUSTED``...) in ``status``."""
    value = _attribute(error, "status")
    return value if isinstance(value, str) and value.isupper() else None


def family_of(error: BaseException) -> Family | None:
    """``"timeout"`` or ``"connection"`` when the error's type says so, else ``None``."""
    if isinstance(error, TimeoutError):
        return "timeout"
    names = [klass.__name__ for klass in type(error).__mro__[:-2]]  # not BaseException, object
    if any(_PERMANENT_NAME.search(name) for name in names):
        return None
    if any(_TIMEOUT_NAME.search(name) for name in names):
        return "timeout"
    if isinstance(error, ConnectionError) or any(_CONNECTION_NAME.search(name) for name in names):
        return "connection"
    return None
