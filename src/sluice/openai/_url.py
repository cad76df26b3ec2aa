"""Credentials in an API URL (``http://user:KEY@host/v1``): taken out, so that they travel in
a header and no message, report or log line ever shows them.

    public, user, password = split_credentials("https://me:sk-1@proxy.test/v1")
    public                        # "https://proxy.test/v1"
    basic_authorization(user, password)   # "Basic bWU6c2stMQ=="
"""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["basic_authorization", "public_url", "split_credentials"]


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without its ``user:password@`` part, and the user and password as written in
    it (percent-encoded; ``None`` when absent)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    netloc = parts.netloc.rpartition("@")[2]
    public = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return public, parts.username, parts.password


def public_url(url: str) -> str:
    """``url`` without user and password, for messages, reports and reprs."""
    return split_credentials(url)[0]


def basic_authorization(user: str | None, password: str | None) -> str:
    """The ``Authorization`` value for credentials taken from a URL (percent-decoded first, as
    HTTP clients do)."""
    pair = f"{unquote(user or '')}:{unquote(password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")
