"""Every HTTP status maps to its error class, with the attributes the gate reads."""

from __future__ import annotations

import json
import pickle

import pytest

import sluice
from sluice import llm
from sluice.llm._errors import error_for_status, malformed

URL = "http://api.test/v1/chat/completions"


def body(message: str = "nope", code: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "t", "param": "p", "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "cls", "retryable", "overloaded"),
    [
        (400, llm.BadRequestError, False, False),
        (401, llm.AuthenticationError, False, False),
        (403, llm.PermissionDeniedError, False, False),
        (404, llm.NotFoundError, False, False),
        (422, llm.BadRequestError, False, False),
        (429, llm.RateLimitError, True, True),
        (500, llm.ServerError, True, False),
        (502, llm.ServerError, True, False),
        (503, llm.ServiceUnavailableError, True, True),
        (504, llm.ServerError, True, False),
        (529, llm.ServiceUnavailableError, True, True),
        (599, llm.ServerError, True, False),
        (408, llm.APIStatusError, True, False),
        (409, llm.APIStatusError, True, False),
        (418, llm.APIStatusError, False, False),
    ],
)
def test_status_mapping(status: int, cls: type, retryable: bool, overloaded: bool) -> None:
    headers = {"x-request-id": "req_42", "retry-after": "3"}
    error = error_for_status(status, headers, body("the reason"), URL)
    assert type(error) is cls
    assert isinstance(error, llm.LLMError)
    assert isinstance(error, sluice.SluiceError)
    assert error.retryable is retryable
    assert error.overloaded is overloaded
    assert sluice.is_retryable(error) is retryable
    assert error.status == status
    assert error.request_id == "req_42"
    assert error.message == "the reason"
    assert (error.code, error.error_type, error.param) == (None, "t", "p")
    assert error.retry_after == 3.0
    assert str(error) == (
        f"HTTP {status} from {URL}: the reason (request id req_42; retry after 3s)"
    )


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        (body("too big", code="context_length_exceeded"), llm.ContextLengthExceededError),
        (
            body("This model's maximum context length is 8192 tokens. However, you requested 9000"),
            llm.ContextLengthExceededError,
        ),
        (body("refused", code="content_policy_violation"), llm.ContentPolicyError),
        (body("filtered", code="content_filter"), llm.ContentPolicyError),
        (body("bad temperature"), llm.BadRequestError),
    ],
)
def test_bad_request_refinements(payload: bytes, cls: type) -> None:
    error = error_for_status(400, {}, payload, URL)
    assert type(error) is cls
    assert isinstance(error, llm.BadRequestError)
    assert error.retryable is False


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"error": "plain string"}', "plain string"),
        (b'{"detail": "fastapi style"}', "fastapi style"),
        (b'{"message": "bare message"}', "bare message"),
        (b"Bad Gateway", "Bad Gateway"),
        (b"", None),
        (b"[1, 2]", "[1, 2]"),
    ],
)
def test_server_messages_in_other_shapes(payload: bytes, message: str | None) -> None:
    error = error_for_status(502, {}, payload, URL)
    # Without a message from the server, ours stands in.
    assert error.message == (message or str(error))
    assert (message or "no error message") in str(error)


def test_server_may_override_retryable() -> None:
    assert error_for_status(400, {"x-should-retry": "true"}, b"", URL).retryable is True
    assert error_for_status(500, {"x-should-retry": "false"}, b"", URL).retryable is False


def test_a_429_keeps_its_rate_limit_headers_so_a_spent_budget_is_told_apart() -> None:
    headers = {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "0",
        "retry-after": "2",
        "set-cookie": "session=private",
        "x-request-id": "req_1",
    }
    spent = error_for_status(429, headers, b"", URL)
    assert dict(spent.headers) == {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "0",
        "retry-after": "2",
    }
    assert sluice.classify_error(spent).quota_left is False
    sporadic = error_for_status(429, {"x-ratelimit-remaining-requests": "12"}, b"", URL)
    assert sluice.classify_error(sporadic).quota_left is True
    assert pickle.loads(pickle.dumps(spent)).headers == spent.headers


def test_transport_errors_subclass_builtins() -> None:
    assert issubclass(llm.APIConnectionError, ConnectionError)
    assert issubclass(llm.APITimeoutError, TimeoutError)
    assert llm.APIConnectionError("x").retryable is True
    assert llm.APITimeoutError("x").retryable is True
    assert llm.StreamInterrupted("x", received="", deltas=0).retryable is False
    assert llm.MalformedResponseError("x").retryable is True


def test_errors_survive_pickling() -> None:
    error = error_for_status(429, {"retry-after-ms": "250", "x-request-id": "r"}, body(), URL)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is llm.RateLimitError
    assert (copy.status, copy.retry_after, copy.request_id, str(copy)) == (
        429,
        0.25,
        "r",
        str(error),
    )
    timeout = pickle.loads(pickle.dumps(llm.APITimeoutError("slow")))
    assert isinstance(timeout, TimeoutError)
    assert str(timeout) == "slow"


def test_malformed_names_status_and_first_bytes() -> None:
    page = b"<html><body>" + b"x" * 500 + b"</body></html>"
    error = malformed("the body is not valid JSON", status=200, body=page, url=URL, headers={})
    text = str(error)
    assert "HTTP 200" in text
    assert "<html><body>xxx" in text
    assert f"(of {len(page)})" in text
    assert "OpenAI-compatible" in text
    assert len(text) < 500


def test_secrets_are_redacted_from_messages() -> None:
    key = "sk-very-secret-key"
    error = error_for_status(401, {}, body(f"Incorrect API key provided: {key}"), URL, [key])
    assert key not in str(error)
    assert key not in (error.message or "")
    assert "[redacted]" in str(error)
    bad = malformed("bad", status=200, body=key.encode(), url=URL, headers={}, secrets=[key])
    assert key not in str(bad)


def test_llm_failure_ignores_rate_limits() -> None:
    assert llm.llm_failure(error_for_status(429, {}, b"", URL)) is False
    assert llm.llm_failure(error_for_status(500, {}, b"", URL)) is True
    assert llm.llm_failure(error_for_status(400, {}, b"", URL)) is False
    assert llm.llm_failure(llm.StreamInterrupted("x", received="", deltas=1)) is True
    assert llm.llm_failure(llm.APIConnectionError("x")) is True
