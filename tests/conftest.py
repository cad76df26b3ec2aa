"""Async tests run on sluice's virtual-time loop unless marked ``realtime``.

sluice's own pytest plugin does it (``sluice_virtual_time = true`` in pyproject.toml): on a
`VirtualTimeLoop` by default (timeouts, backoff and rate limits complete instantly at exact
instants), or on a real asyncio loop when marked ``@pytest.mark.realtime`` (sockets,
subprocesses, wall-clock checks).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer
from tests.redis_server import running as redis_running


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every test must leave no worker thread of its own behind (the portal thread excepted)."""
    import threading

    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t.ident not in before
        and t.is_alive()
        and t.name.startswith("sluice-")
        and t.name != "sluice-portal"
    ]
    for thread in leaked:
        thread.join(timeout=5.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running after the test: {still}"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's own ``redis-server`` (skipped where it is not installed)."""
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs it on Debian/Ubuntu)")
    with redis_running() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty database on the session's server (flushed before each test)."""
    if redis_server.process.poll() is not None:
        redis_server.restart()  # a test stopped it
    redis_server.command("FLUSHALL")
    return redis_server.url
