"""Input files for the batch tests, and readers of what a run leaves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHAT = "/v1/chat/completions"


def chat_line(custom_id: str, text: str, model: str = "sim-model") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 4}
    return {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body}


def write_lines(path: Path, lines: list[Any]) -> Path:
    with open(path, "w") as file:
        for line in lines:
            file.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def write_chat_input(path: Path, count: int, *, distinct: int | None = None) -> Path:
    """``count`` chat requests q0..q<count-1>; ``distinct`` bodies (default: all differ)."""
    distinct = distinct or count
    return write_lines(path, [chat_line(f"q{i}", f"question {i % distinct}") for i in range(count)])


def output_ids(path: Path) -> list[str]:
    """The custom_id of every whole line of an output file."""
    if not path.exists():
        return []
    ids = []
    for raw in path.read_bytes().split(b"\n"):
        if raw:
            try:
                ids.append(json.loads(raw)["custom_id"])
            except ValueError:
                continue  # a torn last line
    return ids


def failed_entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def remove_journal(output: Path) -> None:
    for path in output.parent.glob(output.name + ".journal.sqlite*"):
        path.unlink()
