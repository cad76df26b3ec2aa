"""A durable store in one SQLite file, shared safely by threads and processes.

SQLite calls block, so each store owns one worker thread that holds the only connection and
runs operations in arrival order; the event loop hands it jobs through a bounded queue and
awaits a future, never the disk. Several processes may open the same file: the database runs in
WAL mode (readers never block the writer), each operation is one short autocommit statement,
and a busy timeout makes a writer wait for another's commit instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from .._errors import ConfigError
from .._executors.pending import job_finished, job_started
from .._validate import check_int_at_least, check_optional_positive, check_positive

if TYPE_CHECKING:
    import sqlite3

__all__ = ["SQLiteStore"]

R = TypeVar("R")
logger = logging.getLogger("sluice")

# Expired rows are purged, and the size bound enforced, once every this many writes: often
# enough to keep the file near its bound, rarely enough that writes stay one statement.
_MAINTAIN_EVERY = 256
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# (operation or None for "close", loop and future to answer on, or None for a blocking close)
_Operation: TypeAlias = "Callable[[sqlite3.Connection], Any]"
_Job: TypeAlias = (
    "tuple[_Operation | None, asyncio.AbstractEventLoop | None, asyncio.Future[Any] | None]"
)


class SQLiteStore:
    """Entries in a SQLite table: they survive restarts and are shared by every process that
    opens the same file (on a local disk: WAL does not work over network file systems).

    Time to live is wall-clock time (seconds since the epoch, from ``epoch``) because an entry
    must expire at the same moment for a process started tomorrow; it is therefore *not* on the
    event loop's (possibly virtual) clock. The table keeps about ``max_items`` rows: every few
    hundred writes, expired rows are purged and the oldest-written rows beyond the bound are
    evicted. ``max_pending`` bounds the operations queued for the worker thread; beyond it an
    operation fails at once (the cache then treats it as a miss) instead of piling up.

        store = SQLiteStore("cache.db", max_items=100_000)
        await store.set("k", b"v", ttl=3600)
        await store.aclose()        # flushes queued writes, stops the thread
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "sluice_cache",
        max_items: int | None = 100_000,
        busy_timeout: float = 5.0,
        max_pending: int = 1024,
        close_timeout: float = 10.0,
        epoch: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise ConfigError(f"SQLiteStore(table=...) must be an SQL identifier, got {table!r}")
        self.table = table
        self.max_items = (
            None
            if max_items is None
            else check_int_at_least("SQLiteStore", "max_items", max_items, 1)
        )
        self._busy_timeout = check_positive("SQLiteStore", "busy_timeout", busy_timeout)
        self._max_pending = check_int_at_least("SQLiteStore", "max_pending", max_pending, 1)
        self._close_timeout = check_positive("SQLiteStore", "close_timeout", close_timeout)
        if not callable(epoch):
            raise ConfigError(f"SQLiteStore(epoch=...) must be a callable, got {epoch!r}")
        self._epoch = epoch
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._writes = 0
        self._evictions = 0

    @property
    def evictions(self) -> int:
        """Rows evicted to stay near ``max_items`` (by this store object)."""
        return self._evictions

    # ------------------------------------------------------------------ the Store protocol
    async def get(self, key: str) -> bytes | None:
        return await self._submit(functools.partial(self._get, key, self._epoch()))

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"SQLiteStore.set() stores bytes, got {type(value).__name__}")
        ttl = check_optional_positive("SQLiteStore.set", "ttl", ttl)
        now = self._epoch()
        expires = None if ttl is None else now + ttl
        await self._submit(functools.partial(self._set, key, value, expires, now))

    async def delete(self, key: str) -> None:
        sql = f"DELETE FROM {self.table} WHERE key = ?"
        await self._submit(functools.partial(_execute, sql, (key,)))

    async def clear(self) -> None:
        await self._submit(functools.partial(_execute, f"DELETE FROM {self.table}", ()))

    async def aclose(self) -> None:
        """Run the operations already queued, close the connection and stop the thread.

        Waits at most ``close_timeout`` seconds; the thread is a daemon, so one stuck on a
        locked file cannot keep the interpreter alive.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        thread = self._shut((None, loop, future))
        if thread is None:
            return
        try:
            async with asyncio.timeout(self._close_timeout):
                await asyncio.shield(future)
        except TimeoutError:
            logger.warning(
                "SQLiteStore(%r): worker did not stop within %gs", self.path, self._close_timeout
            )
            return
        # The worker answered the close job as its last act: joining only waits for it to return.
        thread.join(timeout=self._close_timeout)

    def close(self) -> None:
        """Blocking `aclose`, for synchronous code (waits at most ``close_timeout``)."""
        thread = self._shut((None, None, None))
        if thread is not None:
            thread.join(timeout=self._close_timeout)

    # ------------------------------------------------------------------ loop side
    def _submit(self, op: Callable[[sqlite3.Connection], R]) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SQLiteStore({self.path!r}) is closed")
            if self._pending >= self._max_pending:
                raise RuntimeError(
                    f"SQLiteStore({self.path!r}): {self._pending} operations already queued "
                    f"(max_pending={self._max_pending})"
                )
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="sluice-sqlite-store", daemon=True
                )
                self._thread.start()
            self._enqueue((op, loop, future))
        return future

    def _shut(self, close_job: _Job) -> threading.Thread | None:
        """Mark the store closed and queue ``close_job`` behind every job already queued;
        return the thread to wait for (``None`` if there is nothing to stop)."""
        with self._lock:
            if self._closed:
                return None
            self._closed = True
            thread = self._thread
            if thread is None or not thread.is_alive():
                return None
            self._enqueue(close_job)
        return thread

    def _enqueue(self, job: _Job) -> None:
        # Called under the lock, so a job can never be queued behind the close job.
        self._pending += 1
        # Counted as offloaded work: a virtual-time loop then waits for the answer in real time
        # instead of jumping its clock past a job that is still running on this thread.
        job_started()
        self._jobs.put(job)

    # ------------------------------------------------------------------ worker thread
    def _serve(self) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            op, loop, future = self._jobs.get()  # idle until a job or the close job arrives
            result: Any = None
            error: BaseException | None = None
            try:
                if op is None:
                    if connection is not None:
                        connection.close()
                        connection = None
                else:
                    # Opened on first use, and again after a failed open: a file that was
                    # locked or missing a moment ago may be fine now.
                    if connection is None:
                        connection = self._connect()
                    result = op(connection)
            except Exception as exc:
                error = exc
            if loop is not None and future is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody to tell
                    loop.call_soon_threadsafe(_settle, future, result, error)
            with self._lock:
                self._pending -= 1
            job_finished()
            if op is None:
                return

    def _connect(self) -> sqlite3.Connection:
        # Imported here, on the worker thread: `import sluice` works on Python builds without
        # SQLite, and does not pay for loading it.
        import sqlite3

        connection = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=True
        )
        # Two processes switching a new file to WAL at the same moment can get "database is
        # locked" at once: SQLite skips the busy handler there to avoid a lock deadlock. Retry
        # the setup (on this store's own thread, so sleeping blocks nobody), within the busy
        # timeout.
        give_up = time.monotonic() + self._busy_timeout
        pause = 0.005
        while True:
            try:
                self._prepare(connection)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    connection.close()
                    raise
                if time.monotonic() + pause > give_up:
                    connection.close()
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            except BaseException:
                connection.close()
                raise
            else:
                return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """Set the connection up and create the table (idempotent, so it can be retried)."""
        connection.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL loses at most the last commits on power loss, never integrity:
        # the right trade for a cache, and it keeps a write off the fsync path.
        connection.execute("PRAGMA synchronous=NORMAL")
        table = self.table
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
            "expires_at REAL, stored_at REAL NOT NULL)"
        )
        connection.execute(f"CREATE INDEX IF NOT EXISTS {table}_stored_at ON {table} (stored_at)")

    def _get(self, key: str, now: float, connection: sqlite3.Connection) -> bytes | None:
        row = connection.execute(
            f"SELECT value FROM {self.table} WHERE key = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (key, now),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _set(
        self,
        key: str,
        value: bytes,
        expires: float | None,
        now: float,
        connection: sqlite3.Connection,
    ) -> None:
        connection.execute(
            f"INSERT INTO {self.table} (key, value, expires_at, stored_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at, stored_at = excluded.stored_at",
            (key, value, expires, now),
        )
        self._writes += 1
        if self._writes % _MAINTAIN_EVERY == 0:
            self._maintain(now, connection)

    def _maintain(self, now: float, connection: sqlite3.Connection) -> None:
        table = self.table
        connection.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))
        if self.max_items is None:
            return
        (count,) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        excess = count - self.max_items
        if excess > 0:
            cursor = connection.execute(
                f"DELETE FROM {table} WHERE key IN "
                f"(SELECT key FROM {table} ORDER BY stored_at LIMIT ?)",
                (excess,),
            )
            self._evictions += max(0, cursor.rowcount)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, table={self.table!r})"


def _execute(sql: str, parameters: tuple[Any, ...], connection: sqlite3.Connection) -> None:
    connection.execute(sql, parameters)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting caller was cancelled: nobody wants the answer
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
