"""`classify_error` on the errors of the real client libraries, built as each raises them:
statuses, Retry-After in its three forms, x-should-retry, quota headers, timeouts and lost
connections, and no import of any of them in sluice."""

from __future__ import annotations

import email.message
import email.utils
import random
import time
import urllib.error

import aiohttp
import anthropic
import botocore.exceptions
import httpx
import httpx2
import openai
import pytest
import requests
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import sluice
from sluice import ErrorInfo, classify_error
from sluice.policies.adaptive import is_drop
from sluice.policies.breaker import counts_as_failure

URL_TEXT = "http://127.0.0.1:9/v1/chat/completions"


def openai_status(cls: type[openai.APIStatusError], status: int, **headers: str) -> Exception:
    request = httpx2.Request("POST", URL_TEXT)
    response = httpx2.Response(status, headers=headers, request=request)
    return cls("refused", response=response, body=None)


def anthropic_status(cls: type[anthropic.APIStatusError], status: int, **headers: str) -> Exception:
    request = httpx2.Request("POST", URL_TEXT)
    response = httpx2.Response(status, headers=headers, request=request)
    return cls("refused", response=response, body=None)


def requests_http_error(status: int, **headers: str) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return requests.HTTPError(f"{status} error", response=response)


def test_openai_rate_limit_with_retry_after_ms_and_quota_left() -> None:
    error = openai_status(
        openai.RateLimitError,
        429,
        **{"retry-after-ms": "1500", "x-ratelimit-remaining-requests": "590"},
    )
    assert classify_error(error) == ErrorInfo(
        retryable=True, overloaded=True, retry_after=1.5, status=429, quota_left=True
    )
    # What each policy reads of it: retried after 1.5 s, a drop for adaptive concurrency.
    decision = sluice.Retry(budget=None).decide(
        error, attempt=1, now=0.0, deadline=None, rng=random.Random(1), budget=None
    )
    assert (decision.retry, decision.delay) == (True, 1.5)
    assert is_drop(error)
    assert counts_as_failure(error)


@pytest.mark.parametrize(
    ("cls", "status", "retryable", "overloaded", "failure"),
    [
        (openai.BadRequestError, 400, False, False, False),
        (openai.AuthenticationError, 401, False, False, False),
        (openai.NotFoundError, 404, False, False, False),
        (openai.ConflictError, 409, True, False, True),
        (openai.UnprocessableEntityError, 422, False, False, False),
        (openai.InternalServerError, 500, True, False, True),
        (openai.InternalServerError, 503, True, True, True),
        (openai.InternalServerError, 529, True, True, True),
    ],
)
def test_openai_statuses(
    cls: type[openai.APIStatusError], status: int, retryable: bool, overloaded: bool, failure: bool
) -> None:
    info = classify_error(openai_status(cls, status))
    assert (info.retryable, info.overloaded, info.failure, info.status) == (
        retryable,
        overloaded,
        failure,
        status,
    )


def test_the_servers_x_should_retry_overrides_the_status() -> None:
    error = openai_status(openai.InternalServerError, 500, **{"x-should-retry": "false"})
    assert not classify_error(error).retryable
    error = openai_status(openai.BadRequestError, 400, **{"x-should-retry": "true"})
    assert classify_error(error).retryable


def test_openai_connection_errors_and_timeouts_retry() -> None:
    request = httpx2.Request("POST", URL_TEXT)
    lost = classify_error(openai.APIConnectionError(request=request))
    assert (lost.retryable, lost.timeout, lost.failure) == (True, False, True)
    late = classify_error(openai.APITimeoutError(request=request))
    assert (late.retryable, late.timeout) == (True, True)


def test_anthropic_overloaded_and_a_spent_quota() -> None:
    busy = classify_error(anthropic_status(anthropic.InternalServerError, 529))
    assert (busy.retryable, busy.overloaded) == (True, True)
    spent = classify_error(
        anthropic_status(
            anthropic.RateLimitError,
            429,
            **{"retry-after": "7", "anthropic-ratelimit-requests-remaining": "0"},
        )
    )
    assert (spent.retry_after, spent.quota_left, spent.overloaded) == (7.0, False, True)


def test_httpx_status_errors_timeouts_and_dropped_connections() -> None:
    request = httpx.Request("GET", URL_TEXT)
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    response = httpx.Response(503, headers={"Retry-After": when}, request=request)
    info = classify_error(httpx.HTTPStatusError("503", request=request, response=response))
    assert (info.retryable, info.overloaded, info.status) == (True, True, 503)
    assert info.retry_after is not None
    assert 25 < info.retry_after <= 30  # an HTTP date: measured from the wall clock
    assert classify_error(httpx.ReadTimeout("slow", request=request)).timeout
    assert classify_error(httpx.ConnectError("refused", request=request)).retryable
    assert classify_error(httpx.RemoteProtocolError("closed mid-answer")).retryable
    assert classify_error(httpx2.ConnectTimeout("slow")).timeout


def test_requests_errors() -> None:
    limited = classify_error(requests_http_error(429, **{"Retry-After": "3"}))
    assert (limited.retryable, limited.overloaded, limited.retry_after) == (True, True, 3.0)
    missing = classify_error(requests_http_error(404))
    assert (missing.retryable, missing.failure) == (False, False)
    assert classify_error(requests.ConnectionError("refused")).retryable
    assert classify_error(requests.ReadTimeout("slow")).timeout
    assert classify_error(requests.exceptions.ChunkedEncodingError("broken")).retryable


def test_urllib_errors() -> None:
    headers = email.message.Message()
    headers["Retry-After"] = "4"
    unavailable = urllib.error.HTTPError(URL_TEXT, 503, "unavailable", headers, None)
    info = classify_error(unavailable)
    assert (info.retryable, info.overloaded, info.retry_after) == (True, True, 4.0)
    forbidden = urllib.error.HTTPError(URL_TEXT, 403, "forbidden", email.message.Message(), None)
    assert not classify_error(forbidden).retryable  # an HTTPError is also a URLError
    assert classify_error(urllib.error.URLError(ConnectionRefusedError())).retryable
    assert classify_error(TimeoutError("timed out")).timeout


def test_aiohttp_errors() -> None:
    url = URL(URL_TEXT)
    info = aiohttp.RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)
    error = aiohttp.ClientResponseError(
        info, (), status=429, headers=CIMultiDict({"Retry-After": "2"})
    )
    assert classify_error(error) == ErrorInfo(
        retryable=True, overloaded=True, retry_after=2.0, status=429
    )
    assert classify_error(aiohttp.ServerDisconnectedError()).retryable
    assert classify_error(aiohttp.ServerTimeoutError("slow")).timeout
    assert classify_error(aiohttp.ClientPayloadError("cut short")).retryable


def test_botocore_throttling_and_transport_errors() -> None:
    throttled = botocore.exceptions.ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {"retry-after": "2"}},
        },
        "InvokeModel",
    )
    assert classify_error(throttled) == ErrorInfo(
        retryable=True, overloaded=True, retry_after=2.0, status=400
    )
    denied = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDeniedException"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "InvokeModel",
    )
    assert not classify_error(denied).retryable
    endpoint = "https://bedrock.example"
    assert classify_error(
        botocore.exceptions.EndpointConnectionError(endpoint_url=endpoint)
    ).retryable
    assert classify_error(botocore.exceptions.ReadTimeoutError(endpoint_url=endpoint)).timeout


class GoogleStyleError(Exception):
    """The shape of google-genai's ``errors.APIError`` (not installed here): an HTTP ``code``,
    a gRPC ``status`` name, and the response."""

    def __init__(self, code: int, status: str) -> None:
        super().__init__(f"{code} {status}")
        self.code = code
        self.status = status
        self.response = None


def test_google_style_errors() -> None:
    exhausted = classify_error(GoogleStyleError(429, "RESOURCE_EXHAUSTED"))
    assert (exhausted.retryable, exhausted.overloaded, exhausted.status) == (True, True, 429)
    invalid = classify_error(GoogleStyleError(400, "INVALID_ARGUMENT"))
    assert (invalid.retryable, invalid.failure) == (False, False)
