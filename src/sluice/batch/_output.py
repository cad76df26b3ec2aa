"""The output file (Batch API output lines) and the failed file.

Output lines are appended as requests complete, each with one ``write`` on a file opened
for appending, so a killed process leaves whole lines, at most with a torn last one if it
died inside that write; `OutputFile` cuts such a line off when it opens the file. The
journal fsyncs the output before each commit; the file is fsynced again when closed.

    output = OutputFile("out.jsonl")
    tail_ids = output.custom_ids_after(offset)   # lines a killed run wrote, not journaled
    end = output.append(output_line("q1", 200, "req_1", {"choices": [...]}))
    output.close()
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .. import ConfigError

__all__ = [
    "FailedFile",
    "OutputFile",
    "custom_ids_after",
    "failed_line",
    "last_newline_end",
    "output_line",
    "output_truncated",
]

_TAIL_CHUNK = 1 << 16


def output_line(
    custom_id: str, status: int, request_id: str | None, body: Mapping[str, Any]
) -> bytes:
    """One Batch API output line, newline included."""
    line = {
        "id": f"batch_req_{uuid.uuid4().hex}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": None,
    }
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def failed_line(line: int | None, custom_id: str | None, error_class: str, message: str) -> bytes:
    """One failed-file line, newline included."""
    entry = {"line": line, "custom_id": custom_id, "error_class": error_class, "message": message}
    return (json.dumps(entry, ensure_ascii=False) + "\n").encode()


class OutputFile:
    """The output, opened for appending, its torn last line (if any) cut off."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.repaired = _cut_torn_line(self.path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size

    def custom_ids_after(self, offset: int) -> list[tuple[str, int]]:
        """``(custom_id, end offset)`` of each line from byte ``offset`` on: lines a previous
        run wrote but had not journaled when it stopped."""
        return custom_ids_after(self.path, offset) if offset < self.size else []

    def append(self, line: bytes) -> int:
        """Write one whole line; the offset at which it ends."""
        written = os.write(self.fd, line)
        while written < len(line):  # a short write (disk full, signal): finish the line
            written += os.write(self.fd, line[written:])
        self.size += len(line)
        return self.size

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.fsync(self.fd)
            finally:
                os.close(self.fd)
                self.fd = -1


def _cut_torn_line(path: Path) -> int:
    """Truncate ``path`` after its last newline; the number of bytes cut."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "r+b") as file:
        keep = last_newline_end(file, size)
        if keep < size:
            file.truncate(keep)
            file.flush()
            os.fsync(file.fileno())
        return size - keep


def last_newline_end(file: BinaryIO, size: int) -> int:
    """The offset just past the last newline of ``file``'s first ``size`` bytes (0 if
    there is none), read backwards a chunk at a time: a torn tail is short."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        file.seek(start)
        newline = file.read(end - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


class FailedFile:
    """The failed file, rewritten by each run: the failures as of that run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self.count = 0

    def add(self, line: int | None, custom_id: str | None, error_class: str, message: str) -> None:
        self._file.write(failed_line(line, custom_id, error_class, message))
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def custom_ids_after(path: Path, offset: int) -> list[tuple[str, int]]:
    """``(custom_id, end offset)`` of each output line from byte ``offset`` on (a line that
    is not one of ours, or torn, is passed over); reads the file without changing it."""
    found: list[tuple[str, int]] = []
    with open(path, "rb") as file:
        file.seek(offset)
        position = offset
        for raw in file:
            position += len(raw)
            try:
                custom_id = json.loads(raw)["custom_id"]
            except (ValueError, KeyError, TypeError):
                continue  # not one of ours: left as it is
            if isinstance(custom_id, str):
                found.append((custom_id, position))
    return found


def output_truncated(output: Path, size: int, journal: Path, offset: int) -> ConfigError:
    """The error for an output shorter than its journal says it is."""
    return ConfigError(
        f"the output {output} holds {size} bytes but its journal {journal} records answers "
        f"up to byte {offset}: the output was truncated or replaced. Restore it, or delete "
        "the journal too to start over"
    )
