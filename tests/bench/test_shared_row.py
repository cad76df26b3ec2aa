"""The shared-state row of ``sluice bench strategies``: four processes, one limit in Redis."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest

from sluice.bench import _redis
from sluice.bench._console import wall_text
from sluice.bench._shared_child import shares
from sluice.bench._shared_row import shared_row
from sluice.bench._strategies import _run_child


def _never(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    raise AssertionError("the row ran without a Redis")


def test_the_calls_are_split_between_at_most_four_processes() -> None:
    assert shares(10) == [3, 3, 2, 2]
    assert shares(3) == [1, 1, 1]
    assert shares(4) == [1, 1, 1, 1]


def test_four_processes_sharing_one_limit_draw_no_429(redis_url: str) -> None:
    import redis

    # 12 calls in four processes, at most 2 in flight in all: every process would take the
    # 2 leases for itself if it did not share them, and the service answers 429 beyond 2.
    row = shared_row(12, 2, 0.05, redis=redis_url, run_child=_run_child, timeout=60.0)
    assert row["ok"], row
    assert row["processes"] == 4
    assert row["server_429"] == 0
    assert (row["succeeded"], row["rate_limited"], row["failed"]) == (12, 0, 0)
    assert row["degraded"] == 0
    assert row["wall_s"] > 0
    assert row["peak_rss"] > 0
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0  # the run's keys are gone


def test_without_redis_server_the_row_says_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_redis.shutil, "which", lambda name: None)
    row = shared_row(4, 4, 0.01, redis=None, run_child=_never, timeout=10.0)
    assert not row["ok"]
    assert row["wall_s"] is None
    assert "install redis-server or pass --redis URL" in row["skipped"]
    assert wall_text(row) == "not run"


def test_without_the_redis_client_the_row_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis now fails
    row = shared_row(4, 4, 0.01, redis=None, run_child=_never, timeout=10.0)
    assert "pip install 'aiosluice[redis]'" in row["skipped"]


def test_a_named_redis_that_does_not_answer_fails_the_row_only() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    row = shared_row(4, 4, 0.01, redis=url, run_child=_never, timeout=10.0)
    assert not row["ok"]
    assert "skipped" not in row
    assert "does not answer PING" in row["error"]
    assert wall_text(row) == "failed"
