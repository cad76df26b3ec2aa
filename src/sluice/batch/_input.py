"""Reading a batch input file: OpenAI Batch API lines, or plain request bodies.

Each line is one of:

* a Batch API request: ``{"custom_id": "q1", "method": "POST",
  "url": "/v1/chat/completions", "body": {...}}`` (the url may also be ``/v1/embeddings``
  or ``/v1/completions``);
* a plain body, ``{"model": "m", "messages": [...]}``: its endpoint is told by its fields
  (``messages``: chat, ``input``: embeddings, ``prompt``: completions) and its custom_id is
  derived from its position and its content (``line-7-3f2a9c1e0b4d``), so the same file gives
  the same ids on every run.

A line that cannot be used (not JSON, a field missing, an unknown url) is not fatal: it
becomes a `Malformed` entry, reported in the failed file, and the run goes on.

    for entry in read_input("requests.jsonl"):
        if isinstance(entry, Request):
            print(entry.custom_id, entry.path)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ENDPOINTS",
    "Malformed",
    "Request",
    "fingerprint",
    "line_digest",
    "parse_line",
    "read_input",
]

ENDPOINTS = {
    "/v1/chat/completions": "chat/completions",
    "/v1/embeddings": "embeddings",
    "/v1/completions": "completions",
}
"""The Batch API urls accepted, and the client path each is sent to."""

_PLAIN_FIELDS = (
    ("messages", "/v1/chat/completions"),
    ("input", "/v1/embeddings"),
    ("prompt", "/v1/completions"),
)


@dataclass(frozen=True, slots=True)
class Request:
    """One usable input line. ``fingerprint`` is the sha256 of the canonical JSON of the url
    and the body: two requests with the same fingerprint ask the same thing."""

    line: int
    custom_id: str
    url: str
    body: Mapping[str, Any]
    fingerprint: bytes
    plain: bool
    line_digest: bytes = b""

    @property
    def path(self) -> str:
        """The client path the request goes to (``chat/completions``...)."""
        return ENDPOINTS[self.url]


@dataclass(frozen=True, slots=True)
class Malformed:
    """An input line that cannot be sent, and why."""

    line: int
    custom_id: str | None
    error_class: str
    message: str


def fingerprint(url: str, body: Mapping[str, Any]) -> bytes:
    """sha256 of the canonical JSON of ``[url, body]`` (sorted keys, no spaces)."""
    canonical = json.dumps([url, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def line_digest(raw: bytes) -> bytes:
    """The first 16 bytes of the sha256 of a line as written (spaces around it ignored):
    a resumed run skips a line it has seen answered without parsing it."""
    return hashlib.sha256(raw.strip()).digest()[:16]


def read_input(path: str | Path) -> Iterator[Request | Malformed]:
    """The entries of the input file, one per non-blank line, read as they are consumed
    (a file of a million lines is never held in memory)."""
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield parse_line(raw, number)


def parse_line(raw: bytes, line: int) -> Request | Malformed:
    """One input line (``line`` counts from 1) as a `Request`, or `Malformed` saying why."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return Malformed(line, None, "InvalidJSON", f"the line is not valid JSON: {exc}")
    if not isinstance(data, dict):
        kind = type(data).__name__
        return Malformed(line, None, "InvalidLine", f"the line is a JSON {kind}, not an object")
    if "custom_id" not in data:
        return _plain(data, line, raw)
    custom_id = data["custom_id"]
    if not isinstance(custom_id, str) or not custom_id:
        return Malformed(line, None, "InvalidLine", "custom_id must be a non-empty string")
    missing = [name for name in ("method", "url", "body") if name not in data]
    if missing:
        return Malformed(line, custom_id, "MissingField", f"missing {', '.join(missing)}")
    method, url, body = data["method"], data["url"], data["body"]
    if method != "POST":
        return Malformed(line, custom_id, "InvalidLine", f"method must be POST, got {method!r}")
    if url not in ENDPOINTS:
        known = ", ".join(ENDPOINTS)
        return Malformed(line, custom_id, "UnknownURL", f"url {url!r} is not one of {known}")
    if not isinstance(body, dict):
        return Malformed(line, custom_id, "InvalidLine", "body must be a JSON object")
    if body.get("stream"):
        return Malformed(line, custom_id, "InvalidLine", "a streamed body cannot be batched")
    digest = fingerprint(url, body)
    return Request(line, custom_id, url, body, digest, plain=False, line_digest=line_digest(raw))


def _plain(body: dict[str, Any], line: int, raw: bytes) -> Request | Malformed:
    url = next((url for field, url in _PLAIN_FIELDS if field in body), None)
    if url is None:
        return Malformed(
            line,
            None,
            "InvalidLine",
            "no custom_id: a Batch API line needs custom_id, method, url and body; a plain "
            "body needs messages, input or prompt",
        )
    if body.get("stream"):
        return Malformed(line, None, "InvalidLine", "a streamed body cannot be batched")
    digest = fingerprint(url, body)
    custom_id = f"line-{line}-{digest.hex()[:12]}"
    return Request(line, custom_id, url, body, digest, plain=True, line_digest=line_digest(raw))
