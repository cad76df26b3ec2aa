"""Async tests run on sluice's virtual-time loop unless marked ``realtime``.

sluice's own pytest plugin does it (``sluice_virtual_time = true`` in pyproject.toml): on a
`VirtualTimeLoop` by default (timeouts, backoff and rate limits complete instantly at exact
instants), or on a real asyncio loop when marked ``@pytest.mark.realtime`` (sockets,
subprocesses, wall-clock checks).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
