"""Queued logging: handlers run on their own thread, a full queue drops and counts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from sluice import ConfigError
from sluice.observe import queue_logging


class Recording(logging.Handler):
    """Notes each record and the thread that wrote it; blocks while ``gate`` is closed."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.written: list[tuple[str, str]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def emit(self, record: logging.LogRecord) -> None:
        self.entered.set()
        self.gate.wait(timeout=10)
        self.written.append((record.getMessage(), threading.current_thread().name))


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tests.observe.queued")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    logger.handlers.clear()


@pytest.mark.realtime
async def test_records_from_the_loop_are_written_on_the_listener(logger: logging.Logger) -> None:
    handler = Recording()
    logger.addHandler(handler)
    before = list(logger.handlers)
    with queue_logging(logger) as logs:
        logger.info("one %d", 1)
        assert handler not in logger.handlers
    assert handler.written == [("one 1", "sluice-log-listener")]
    assert logger.handlers == before
    assert logs.dropped == 0


def test_a_blocked_handler_blocks_no_caller_and_a_full_queue_drops(
    logger: logging.Logger,
) -> None:
    handler = Recording()
    handler.gate.clear()
    logger.addHandler(handler)
    logs = queue_logging(logger.name, max_records=2)
    try:
        logger.info("first")
        assert handler.entered.wait(timeout=5)  # the listener is stuck in emit
        for n in range(5):
            logger.info("more %d", n)  # each returns although the handler is stuck
        assert (logs.dropped, logs.pending, handler.written) == (3, 2, [])
    finally:
        handler.gate.set()
        logs.stop()
    assert [message for message, _ in handler.written] == ["first", "more 0", "more 1"]
    assert logs.pending == 0


def test_handler_levels_are_respected_and_stop_is_idempotent(logger: logging.Logger) -> None:
    errors, everything = Recording(logging.ERROR), Recording()
    logger.addHandler(errors)
    logger.addHandler(everything)
    before = list(logger.handlers)  # pytest's capture handlers may be among them
    logs = queue_logging(logger)
    logger.info("info")
    logger.error("error")
    logs.stop()
    logs.stop()
    assert [m for m, _ in errors.written] == ["error"]
    assert [m for m, _ in everything.written] == ["info", "error"]
    assert logger.handlers == before
    assert "dropped=0" in repr(logs)


def test_the_root_logger_by_default() -> None:
    before = list(logging.getLogger().handlers)
    with queue_logging() as logs:
        assert logs.logger is logging.getLogger()
    assert logging.getLogger().handlers == before


@pytest.mark.parametrize(
    ("arguments", "name"), [({"max_records": 0}, "max_records"), ({"logger": 3}, "logger")]
)
def test_bad_config_names_the_parameter(arguments: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=rf"queue_logging\({name}=\.\.\.\)"):
        queue_logging(**arguments)  # type: ignore[arg-type]
