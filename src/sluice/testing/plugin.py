"""A pytest plugin: ``async def`` tests on virtual time, as anyio's and trio's plugins run
theirs on their own loops.

Installed with sluice and registered under the name ``sluice``; it does nothing until asked:

- mark a test ``@pytest.mark.virtual_time`` and it runs on a fresh `VirtualTimeLoop`: every
  timeout, backoff, rate limit and ``asyncio.sleep`` completes at once, at its exact instant;
- or set ``sluice_virtual_time = true`` in the pytest configuration to run every ``async def``
  test that way, except those marked ``@pytest.mark.realtime``, which run on a plain asyncio
  loop with wall-clock time (for sockets, subprocesses and real I/O).

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

import pytest

from .loop import run

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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run the ``async def`` tests this plugin was asked to run; leave the others alone."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    everywhere = bool(pyfuncitem.config.getini(_MODE))
    realtime = pyfuncitem.get_closest_marker("realtime") is not None
    virtual = pyfuncitem.get_closest_marker("virtual_time") is not None
    if realtime and virtual:
        raise pytest.UsageError(
            f"{pyfuncitem.nodeid} is marked both virtual_time and realtime; keep one"
        )
    if not (virtual or everywhere):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    arguments = {name: pyfuncitem.funcargs[name] for name in names}
    coroutine = pyfuncitem.obj(**arguments)
    if realtime:
        asyncio.run(coroutine)
    else:
        run(coroutine)
    return True
