"""Test helpers: virtual time for code that uses sluice, and a pytest plugin that provides it.

`VirtualTimeLoop` is a normal asyncio loop except for its clock: whenever no callback is ready
and nothing real is pending (no I/O, no job on a worker thread or process), it jumps straight
to the next timer instead of sleeping. Timeouts, backoff, rate limits, breaker windows and
`asyncio.sleep` all run on it unchanged, in microseconds of real time, at exact instants::

    async def scenario() -> float:
        await asyncio.sleep(30)
        return asyncio.get_running_loop().time()

    assert sluice.testing.run(scenario()) == 30.0

`ManualClock` drives policy objects by hand (``clock.advance(1.5)``) without a loop. The pytest
plugin (``sluice.testing.plugin``, registered when sluice is installed) runs ``async def``
tests on virtual time: see `sluice.testing.plugin`.

`no_stalls` fails a test whose event loop is blocked longer than a threshold, naming the
function that blocked (``@pytest.mark.no_stalls(threshold_ms=...)`` in the plugin does the
same for a whole async test).
"""

from .clock import ManualClock
from .loop import VirtualTimeLoop, run
from .stalls import NoStalls, no_stalls

__all__ = ["ManualClock", "NoStalls", "VirtualTimeLoop", "no_stalls", "run"]
