from __future__ import annotations

import json
from pathlib import Path

from sluice.batch import Malformed, Request, read_input

from .files import chat_line, write_lines


def test_batch_lines_and_plain_bodies(tmp_path: Path) -> None:
    plain = {"model": "e", "input": "hello"}
    path = write_lines(
        tmp_path / "in.jsonl",
        [
            chat_line("a", "x"),
            "",
            plain,
            {"custom_id": "c", "method": "POST", "url": "/v1/completions", "body": {"prompt": "p"}},
        ],
    )
    entries = list(read_input(path))
    assert [type(e) for e in entries] == [Request, Request, Request]
    first, second, third = entries
    assert isinstance(first, Request)
    assert first.path == "chat/completions"
    assert not first.plain
    assert isinstance(second, Request)
    assert second.plain
    assert second.path == "embeddings"
    assert second.custom_id.startswith("line-3-")
    assert isinstance(third, Request)
    assert third.path == "completions"
    # Stable: the same file gives the same ids; another content on that line another id.
    assert [e.custom_id for e in read_input(path) if isinstance(e, Request)][1] == second.custom_id
    write_lines(tmp_path / "other.jsonl", [chat_line("a", "x"), "", {**plain, "input": "bye"}])
    other = [e for e in read_input(tmp_path / "other.jsonl") if isinstance(e, Request)][1]
    assert other.custom_id != second.custom_id
    assert other.custom_id.startswith("line-3-")


def test_malformed_lines_are_reported_not_fatal(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "in.jsonl",
        [
            "{not json",
            "[1, 2]",
            {"custom_id": "m", "method": "POST", "body": {}},
            {"custom_id": "u", "method": "POST", "url": "/v1/images", "body": {}},
            {"custom_id": "g", "method": "GET", "url": "/v1/embeddings", "body": {}},
            {
                "custom_id": "s",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"stream": True},
            },
            {"model": "m"},
            chat_line("ok", "fine"),
        ],
    )
    entries = list(read_input(path))
    bad = [e for e in entries if isinstance(e, Malformed)]
    assert [(e.line, e.custom_id, e.error_class) for e in bad] == [
        (1, None, "InvalidJSON"),
        (2, None, "InvalidLine"),
        (3, "m", "MissingField"),
        (4, "u", "UnknownURL"),
        (5, "g", "InvalidLine"),
        (6, "s", "InvalidLine"),
        (7, None, "InvalidLine"),
    ]
    assert "url" in bad[2].message
    assert "/v1/images" in bad[3].message
    assert isinstance(entries[-1], Request)


def test_fingerprint_ignores_key_order(tmp_path: Path) -> None:
    line = chat_line("a", "x")
    reordered = {"body": dict(reversed(list(line["body"].items()))), **line}
    reordered["body"] = dict(reversed(list(line["body"].items())))
    path = write_lines(tmp_path / "in.jsonl", [line, json.dumps(reordered)])
    first, second = read_input(path)
    assert isinstance(first, Request)
    assert isinstance(second, Request)
    assert first.fingerprint == second.fingerprint
