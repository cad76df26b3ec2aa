"""A cache whose store fails keeps serving (as misses), and says so where the application
will see it: in its logs if it has any, else as one `DegradedWarning` a minute."""

from __future__ import annotations

import logging
import warnings

import pytest

import sluice
from sluice import _degraded
from tests.cache.test_runner import BrokenStore


async def fetch(x: int) -> int:
    return x


@pytest.fixture
def unlogged(monkeypatch: pytest.MonkeyPatch) -> None:
    """An application that configured no logging (pytest's own capture handlers aside, which
    `test_only_a_handler_that_shows_warnings_counts` covers)."""
    monkeypatch.setattr(_degraded, "_shown_by_logging", lambda log: False)
    monkeypatch.setattr(_degraded, "_last_warned", {})


@pytest.mark.usefixtures("unlogged")
async def test_without_logging_a_failing_store_warns_once() -> None:
    gate = sluice.Gate("llm", cache=sluice.Cache(store=BrokenStore()))
    with pytest.warns(sluice.DegradedWarning, match=r"cache 'llm': store read failed") as seen:
        results = await gate.map(fetch, range(20))
    assert results == list(range(20))
    assert len(seen) == 1
    stats = gate.statistics().cache
    assert stats is not None
    assert stats.store_errors == 40


async def test_with_logging_the_log_says_it_and_no_warning_is_issued(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_degraded, "_last_warned", {})
    caplog.set_level(logging.WARNING, logger="sluice")
    gate = sluice.Gate("llm", cache=sluice.Cache(store=BrokenStore()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", sluice.DegradedWarning)
        assert await gate.run(fetch, 1) == 1
    assert "cache 'llm': store read failed" in caplog.text


def test_only_a_handler_that_shows_warnings_counts() -> None:
    log = logging.getLogger("sluice.test.degraded")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    assert not _degraded._shown_by_logging(log)  # a library's NullHandler shows nothing
    handler = logging.StreamHandler()
    handler.setLevel(logging.ERROR)
    log.addHandler(handler)
    try:
        assert not _degraded._shown_by_logging(log)  # nor a handler for errors only
        handler.setLevel(logging.WARNING)
        assert _degraded._shown_by_logging(log)
    finally:
        log.removeHandler(handler)
