"""A pytest plugin: ``async def`` tests on virtual time, as anyio's and trio's plugins run
theirs on their own loops.

Installed with sluice and registered under the name ``sluice``; it does nothing until asked:

- mark a test ``@pytest.mark.virtual_time`` and it runs on a fresh `VirtualTimeLoop`: every
  timeout, backoff, rate limit and ``asyncio.sleep`` completes at once, at its exact instant;
- or set ``sluice_virtual_time = true`` in the pytest configuration to run every ``async def``
  test that way, except those marked ``@pytest.mark.realtime``, which run on a plain asyncio
  loop with wall-clock time (for sockets, subprocesses and real I/O).

Mark an async test it runs ``@pytest.mark.no_stalls(threshold_ms=100)`` and it fails when
anything blocks the loop for longer, naming the function that blocked (`no_stalls`).

Tests it does not run are left to other plugins (pytest-asyncio, anyio), so they can share a
suite::

    @pytest.mark.virtual_time
    async def test_backoff_waits() -> None:
        await gate.run(flaky)
        assert asyncio.get_running_loop().time() == 1.5
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any

import pytest

from .loop import run
from .stalls import NoStalls, no_stalls

__all__ = ["pytest_addoption", "pytest_configure", "pytest_pyfunc_call"]

_MODE = "sluice_virtual_time"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _MODE,
        type="bool",
        default=False,
        help="run every async def test on sluice's virtual-time loop (except those marked "
        "realtime)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "virtual_time: run this async test on sluice's virtual-time event loop"
    )
    config.addinivalue_line(
        "markers",
        "realtime: run this async test on a plain asyncio loop with wall-clock time (with "
        f"{_MODE} = true)",
    )
    config.addinivalue_line(
        "markers",
        "no_stalls(threshold_ms=100): fail this async test when its event loop is blocked for "
        "longer, naming the function that blocked",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run the ``async def`` tests this plugin was asked to run; leave the others alone."""
    stalls = pyfuncitem.get_closest_marker("no_stalls")
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        if stalls is not None:
            raise pytest.UsageError(f"{pyfuncitem.nodeid}: no_stalls marks async def tests")
        return None
    everywhere = bool(pyfuncitem.config.getini(_MODE))
    realtime = pyfuncitem.get_closest_marker("realtime") is not None
    virtual = pyfuncitem.get_closest_marker("virtual_time") is not None
    if realtime and virtual:
        raise pytest.UsageError(
            f"{pyfuncitem.nodeid} is marked both virtual_time and realtime; keep one"
        )
    if not (virtual or everywhere):
        if stalls is not None:  # silently ignoring the mark would pass a test that blocks
            raise pytest.UsageError(
                f"{pyfuncitem.nodeid}: no_stalls needs the test run by sluice's plugin "
                f"(mark it virtual_time, or set {_MODE} = true)"
            )
        return None
    guard = None
    if stalls is not None:  # checked before the coroutine exists: no "never awaited" on error
        guard = no_stalls(stalls.kwargs.get("threshold_ms", stalls.args[0] if stalls.args else 100))
    names = pyfuncitem._fixtureinfo.argnames
    arguments = {name: pyfuncitem.funcargs[name] for name in names}
    coroutine = pyfuncitem.obj(**arguments)
    if guard is not None:
        coroutine = _watched(coroutine, guard)
    if realtime:
        asyncio.run(coroutine)
    else:
        run(coroutine)
    return True


async def _watched(coroutine: Coroutine[Any, Any, object], guard: NoStalls) -> None:
    async with guard:
        await coroutine
