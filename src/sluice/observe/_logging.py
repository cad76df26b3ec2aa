"""Logging that never blocks the event loop: a logger's handlers moved behind a bounded queue
and a thread of their own.

A handler writing to a slow disk, a socket or a remote collector runs on the thread that
logs; on the loop thread, every ``logger.info`` then waits for it. Behind the queue, logging
costs the loop one record's formatting and a queue put. When the queue is full the record is
dropped and counted rather than waited for: a loop that stops to wait for its logs is the
failure this exists to prevent.

    logs = queue_logging()                       # the root logger's handlers, by default
    logging.getLogger("app").warning("slow")     # queued; written on "sluice-log-listener"
    logs.stop()                                  # the handlers are back, every record written
"""

from __future__ import annotations

import logging
import queue
import threading
from logging.handlers import QueueHandler
from types import TracebackType

from .._errors import ConfigError
from .._validate import check_int_at_least

__all__ = ["QueuedLogging", "queue_logging"]

_THREAD_NAME = "sluice-log-listener"


class _Enqueue(QueueHandler):
    """Puts records on the queue without ever waiting for room."""

    def __init__(self, records: queue.Queue[logging.LogRecord | None]) -> None:
        super().__init__(records)
        self.dropped = 0  # written under the handler's lock (Handler.handle holds it)

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class QueuedLogging:
    """A logger whose handlers run on the ``"sluice-log-listener"`` thread (made by
    `queue_logging`). ``dropped`` counts the records refused by a full queue. ``stop()`` (or
    leaving the ``with`` block) puts the handlers back, writes what is queued and flushes.

        with queue_logging("app", max_records=1000) as logs:
            await serve()
        print(logs.dropped)
    """

    __slots__ = ("_handler", "_logger", "_originals", "_queue", "_stopped", "_thread")

    def __init__(self, logger: logging.Logger | str | None = None, *, max_records: int = 10_000):
        size = check_int_at_least("queue_logging", "max_records", max_records, 1)
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger)
        elif not isinstance(logger, logging.Logger):
            raise ConfigError(
                f"queue_logging(logger=...) must be a Logger, a logger name or None, got {logger!r}"
            )
        self._logger = logger
        self._queue: queue.Queue[logging.LogRecord | None] = queue.Queue(size)
        self._originals = tuple(logger.handlers)
        self._handler = _Enqueue(self._queue)
        self._stopped = False
        self._thread = threading.Thread(target=self._drain, name=_THREAD_NAME, daemon=True)
        self._thread.start()
        # Ours first, theirs removed after: a record logged meanwhile on another thread may be
        # written twice, but is never lost.
        logger.addHandler(self._handler)
        for handler in self._originals:
            logger.removeHandler(handler)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    @property
    def dropped(self) -> int:
        """Records refused because the queue was full."""
        return self._handler.dropped

    @property
    def pending(self) -> int:
        """Records queued and not written yet."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Put the original handlers back, write every queued record, flush (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        for handler in self._originals:
            self._logger.addHandler(handler)
        self._logger.removeHandler(self._handler)
        self._queue.put(None)  # after every queued record; waits for room if the queue is full
        self._thread.join()
        for handler in self._originals:
            handler.flush()

    def _drain(self) -> None:
        while (record := self._queue.get()) is not None:
            for handler in self._originals:
                if record.levelno >= handler.level:
                    try:
                        handler.handle(record)
                    except Exception:  # handlers report their own errors; this thread goes on
                        handler.handleError(record)

    def __enter__(self) -> QueuedLogging:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"QueuedLogging(logger={self._logger.name!r}, handlers={len(self._originals)}, "
            f"dropped={self.dropped})"
        )


def queue_logging(
    logger: logging.Logger | str | None = None, *, max_records: int = 10_000
) -> QueuedLogging:
    """Move ``logger``'s handlers (default: the root logger's, where applications put theirs)
    behind a queue of at most ``max_records`` records and a thread that writes them.

    Only the handlers attached to that logger move: records propagating to a parent's handlers
    are written there as before, on the thread that logs.

        logs = queue_logging(max_records=10_000)
        logging.getLogger("app").info("never waits for the handler")
        logs.stop()
    """
    return QueuedLogging(logger, max_records=max_records)
