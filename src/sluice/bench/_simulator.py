"""The simulator a bench command runs against, in a child process of its own.

with embedded_simulator(SimConfig(ttft=0.5)) as sim:
    run_load(sim.base_url)
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from ..sim import SimConfig, SimProcess

__all__ = ["SimulatorStartError", "embedded_simulator"]


class SimulatorStartError(RuntimeError):
    """The embedded simulator did not start (the message says why)."""


@contextlib.contextmanager
def embedded_simulator(config: SimConfig) -> Iterator[SimProcess]:
    """The simulator in a child process that a terminal Ctrl-C does not reach.

    Ctrl-C goes to the whole foreground process group; the simulator must keep serving while
    the load generator winds down its level, so SIGINT is blocked while the child starts (the
    mask is inherited). It stops when the ``with`` block ends (SIGTERM), or when this process
    dies (it watches its standard input).
    """
    process = SimProcess(config)
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    except RuntimeError as exc:
        raise SimulatorStartError(f"the embedded simulator did not start: {exc}") from exc
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        yield process
    finally:
        process.stop()
