"""The journal: what became of every custom_id, in SQLite (WAL) beside the output.

One row per custom_id: its state (done or failed), the fingerprint of the body it was sent
with, how many runs sent it, and for a failure the input line, the error class and message
and whether trying again may help. A ``meta`` row holds ``output_offset``: every output line
before that byte is journaled, so a resumed run reads only the output past it.

Writes go through one thread (``sluice-batch-journal``) that commits them in transactions
of up to `BATCH_ROWS` rows; before each commit it fsyncs the output file, so the journal
never records a line the disk does not hold.

    journal = Journal("out.jsonl.journal.sqlite")
    state = journal.load()                       # done ids, failures, fingerprints
    journal.start(output_fd)
    journal.done("q1", digest, end_offset)
    journal.close()
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BATCH_ROWS", "DONE", "FAILED", "Failure", "Journal", "JournalState"]

DONE = 1
FAILED = 2
BATCH_ROWS = 500
_CLOSE_TIMEOUT = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    custom_id TEXT PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    state INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    line INTEGER,
    error_class TEXT,
    message TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    line_digest BLOB
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

_UPSERT = """
INSERT INTO requests (custom_id, fingerprint, state, attempts, line, error_class, message,
                      retryable, line_digest)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (custom_id) DO UPDATE SET
    fingerprint = excluded.fingerprint, state = excluded.state,
    attempts = requests.attempts + excluded.attempts, line = excluded.line,
    error_class = excluded.error_class, message = excluded.message,
    retryable = excluded.retryable, line_digest = excluded.line_digest
"""

_Row = tuple[str, bytes, int, int, int | None, str | None, str | None, int, bytes | None]


@dataclass(frozen=True, slots=True)
class Failure:
    """A journaled failure: enough to list it again in the failed file."""

    line: int | None
    error_class: str
    message: str
    retryable: bool


@dataclass(slots=True)
class JournalState:
    """What a previous run left: fingerprints of every journaled id, the done ones, the
    failures, and how far the output is covered by the journal."""

    fingerprints: dict[str, bytes] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    done_lines: set[bytes] = field(default_factory=set)
    failed: dict[str, Failure] = field(default_factory=dict)
    output_offset: int = 0


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(_SCHEMA)
    return connection


class Journal:
    """The SQLite journal of one output file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue[tuple[_Row, int] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._output_fd: int | None = None

    def load(self) -> JournalState:
        """Read every row (a million done ids take about a second)."""
        state = JournalState()
        connection = _connect(self.path)
        try:
            rows = connection.execute(
                "SELECT custom_id, fingerprint, state, line, error_class, message, retryable, "
                "line_digest FROM requests"
            )
            fingerprints, done, failed = state.fingerprints, state.done, state.failed
            done_lines = state.done_lines
            for custom_id, digest, kind, line, error_class, message, retryable, raw in rows:
                fingerprints[custom_id] = digest
                if kind == DONE:
                    done.add(custom_id)
                    if raw is not None:
                        done_lines.add(raw)
                else:
                    failed[custom_id] = Failure(line, error_class, message, bool(retryable))
            found = connection.execute("SELECT value FROM meta WHERE key = 'output_offset'")
            offset = found.fetchone()
            state.output_offset = int(offset[0]) if offset else 0
        finally:
            connection.close()
        return state

    def start(self, output_fd: int | None = None) -> None:
        """Start the writer thread; ``output_fd`` is fsynced before each commit."""
        self._output_fd = output_fd
        connection = _connect(self.path)
        self._thread = threading.Thread(
            target=self._write, args=(connection,), name="sluice-batch-journal", daemon=True
        )
        self._thread.start()

    def done(
        self,
        custom_id: str,
        digest: bytes,
        output_end: int,
        attempts: int = 1,
        line_digest: bytes | None = None,
    ) -> None:
        """Record that ``custom_id``'s output line ends at byte ``output_end``;
        ``line_digest`` lets a resumed run skip its input line unparsed."""
        row = (custom_id, digest, DONE, attempts, None, None, None, 0, line_digest)
        self._put(row, output_end)

    def failed(self, custom_id: str, digest: bytes, failure: Failure, attempts: int = 1) -> None:
        """Record that ``custom_id`` failed."""
        row = (custom_id, digest, FAILED, attempts, failure.line, failure.error_class)
        self._put((*row, failure.message, int(failure.retryable), None), -1)

    def close(self) -> None:
        """Commit what is queued and stop the writer (bounded: raises if it hangs)."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(_CLOSE_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"the journal writer did not finish within {_CLOSE_TIMEOUT} s")
        self._thread = None
        if self._error is not None:
            raise RuntimeError(f"the journal {self.path} could not be written") from self._error

    def _put(self, row: _Row, output_end: int) -> None:
        if self._error is not None:
            raise RuntimeError(f"the journal {self.path} could not be written") from self._error
        if self._thread is None:
            raise RuntimeError("the journal is not started")
        self._queue.put((row, output_end))

    def _write(self, connection: sqlite3.Connection) -> None:
        try:
            stop = False
            while not stop:
                item = self._queue.get()
                batch: list[tuple[_Row, int]] = []
                while item is not None:
                    batch.append(item)
                    if len(batch) >= BATCH_ROWS:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                stop = item is None
                if batch:
                    self._commit(connection, batch)
        except BaseException as exc:  # reported by the next write or by close()
            self._error = exc
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, batch: list[tuple[_Row, int]]) -> None:
        end = max(output_end for _, output_end in batch)
        if end >= 0 and self._output_fd is not None:
            os.fsync(self._output_fd)  # the lines reach the disk before the journal says so
        connection.execute("BEGIN")
        connection.executemany(_UPSERT, [row for row, _ in batch])
        if end >= 0:
            connection.execute(
                "INSERT INTO meta (key, value) VALUES ('output_offset', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                (end,),
            )
        connection.execute("COMMIT")
