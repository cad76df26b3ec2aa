"""Secrets stay secret: credentials in base_url, keys in per-call headers and the client's
key are redacted from every error, repr and log line, DEBUG logging included."""

from __future__ import annotations

import asyncio
import base64
import logging
import re

import pytest

import sluice
from sluice import llm
from sluice.llm import Client, MockResponse, MockTransport

from .fakes import MESSAGES, Script, error_body, ok
from .hostile import Sent, head, refusing_port, serving

SECRET = "sk-url-secret-0123456789"
CALL_KEY = "sk-per-call-9876543210"


def shown(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """Everything a user could see of ``error`` and of the logs."""
    texts = [str(error), repr(error), str(vars(error)), *getattr(error, "__notes__", [])]
    cause = error.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.exc_info) for record in caplog.records if record.exc_info]
    return "\n".join(texts)


async def test_credentials_in_base_url_become_basic_auth_and_are_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = MockResponse(401, json=error_body(f"bad credentials: me:{SECRET}"))
    script = Script([echo, MockResponse(content=f"<html>{SECRET}</html>".encode())])
    transport = MockTransport(script)
    client = Client(f"https://me:{SECRET}@api.test/v1/", transport=transport, retry=None)
    async with client:
        with pytest.raises(llm.AuthenticationError) as denied:
            await client.chat(model="m", messages=MESSAGES)
        with pytest.raises(llm.MalformedResponseError) as garbage:
            await client.chat(model="m", messages=MESSAGES)
        texts = [repr(client), str(client.statistics()), client.base_url]
    request = transport.requests[0]
    assert request.url == "https://api.test/v1/chat/completions"
    basic = script.headers[0]["authorization"]
    assert base64.b64decode(basic.removeprefix("Basic ")) == f"me:{SECRET}".encode()
    joined = "\n".join([*texts, shown(denied.value, caplog), shown(garbage.value, caplog)])
    assert SECRET not in joined
    assert "[redacted]" in str(denied.value)
    assert "[redacted]" in str(garbage.value)


async def test_a_key_in_the_user_part_is_a_secret_too() -> None:
    echo = MockResponse(401, json=error_body(f"unknown key {SECRET}"))
    client = Client(f"http://{SECRET}@api.test/v1", transport=MockTransport(Script([echo])))
    async with client:
        with pytest.raises(llm.AuthenticationError) as caught:
            await client.chat(model="m", messages=MESSAGES)
    assert SECRET not in str(caught.value)


async def test_a_key_in_per_call_headers_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = MockResponse(401, json=error_body(f"Incorrect API key provided: {CALL_KEY}"))
    garbage = MockResponse(content=f"key={CALL_KEY}".encode())
    stream_error = MockResponse.sse([{"error": {"message": f"no: {CALL_KEY}", "code": 403}}])
    client = Client(
        "http://api.test/v1",
        transport=MockTransport(Script([echo, garbage, stream_error])),
        retry=None,
    )
    errors: list[BaseException] = []
    async with client:
        for headers in ({"X-Api-Key": CALL_KEY}, {"Authorization": f"Bearer {CALL_KEY}"}):
            with pytest.raises(llm.LLMError) as caught:
                await client.chat(model="m", messages=MESSAGES, extra_headers=headers)
            errors.append(caught.value)
        with pytest.raises(llm.PermissionDeniedError) as in_stream:
            async for _ in client.stream_chat(
                model="m", messages=MESSAGES, extra_headers={"api-key": CALL_KEY}
            ):
                pass
        errors.append(in_stream.value)
    joined = "\n".join(shown(error, caplog) for error in errors)
    assert CALL_KEY not in joined
    assert joined.count("[redacted]") >= 3


@pytest.mark.realtime
async def test_credentials_stay_out_of_connection_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with refusing_port() as port:
        async with Client(f"http://me:{SECRET}@127.0.0.1:{port}/v1", retry=None) as client:
            with pytest.raises(llm.APIConnectionError) as refused:
                await client.chat(model="m", messages=MESSAGES)
    assert str(port) in str(refused.value)
    assert SECRET not in shown(refused.value, caplog)


@pytest.mark.realtime
async def test_a_server_echoing_the_authorization_header(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def echo(writer: asyncio.StreamWriter, sent: Sent) -> None:
        assert sent.requests is not None
        auth = next(
            line for line in sent.requests[-1].split(b"\r\n") if line.lower().startswith(b"auth")
        )
        body = b'{"error": {"message": "denied: ' + auth + b'"}}'
        await sent.write(writer, head(401, content_length=str(len(body))) + body)

    async with serving(echo) as (url, _sent):
        public = url.removeprefix("http://")
        async with Client(f"http://me:{SECRET}@{public}", retry=None) as client:
            with pytest.raises(llm.AuthenticationError) as basic:
                await client.chat(model="m", messages=MESSAGES)
        async with Client(url, api_key=SECRET, retry=None) as client:
            with pytest.raises(llm.AuthenticationError) as bearer:
                await client.chat(model="m", messages=MESSAGES)
    token = base64.b64encode(f"me:{SECRET}".encode()).decode()
    for caught in (basic, bearer):
        text = shown(caught.value, caplog)
        assert SECRET not in text
        assert token not in text
        assert re.search(r"denied: authorization: (Bearer )?\[redacted\]", text)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"api_key": "sk-abc\n"}, r"Client\(api_key=\.\.\.\) contains a line break"),
        ({"api_key": "sk-a\r\nX-Evil: 1"}, "line break"),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, r"Client\(headers=\.\.\.\): the value of header"),
        ({"headers": {"a": 5}}, r"Client\(headers=\.\.\.\): header 'a' must map a str"),
        ({"headers": {"Bad Name": "x"}}, "is not a valid header name"),
        ({"headers": [("a", "b")]}, r"Client\(headers=\.\.\.\) must be a mapping"),
    ],
)
def test_bad_keys_and_headers_are_config_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(sluice.ConfigError, match=message):
        Client("http://api.test/v1", **settings)  # type: ignore[arg-type]


def test_credentials_and_an_api_key_together_are_refused() -> None:
    with pytest.raises(sluice.ConfigError, match="pass only one"):
        Client(f"http://me:{SECRET}@api.test/v1", api_key="sk-other")
    with pytest.raises(sluice.ConfigError, match="base_url") as caught:
        Client(f"http://me:{SECRET}@/v1")
    assert SECRET not in str(caught.value)


async def test_secrets_of_a_successful_call_are_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = Client(f"http://me:{SECRET}@api.test/v1", transport=MockTransport(Script([ok()])))
    async with client:
        await client.chat(model="m", messages=MESSAGES, extra_headers={"X-Api-Key": CALL_KEY})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert SECRET not in logged
    assert CALL_KEY not in logged
