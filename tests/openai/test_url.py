"""Credentials in an API URL: taken out for display, turned into Basic authentication."""

from __future__ import annotations

import base64

import pytest

from sluice.openai import basic_authorization, public_url, split_credentials


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://me:sk-1@proxy.test/v1", ("https://proxy.test/v1", "me", "sk-1")),
        ("http://sk-only@host:8080/v1?x=1", ("http://host:8080/v1?x=1", "sk-only", None)),
        ("http://:pw@host/v1", ("http://host/v1", "", "pw")),
        ("http://host/v1", ("http://host/v1", None, None)),
        ("http://a%40b:p%3Aw@host/v1", ("http://host/v1", "a%40b", "p%3Aw")),
    ],
)
def test_split_credentials(url: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_credentials(url) == expected
    assert public_url(url) == expected[0]


def test_basic_authorization_decodes_percent_escapes_first() -> None:
    value = basic_authorization("a%40b", "p%3Aw")
    assert value.startswith("Basic ")
    assert base64.b64decode(value[6:]) == b"a@b:p:w"
    assert base64.b64decode(basic_authorization("key", None)[6:]) == b"key:"
