"""Checks the commands make before any work starts: that the load asked for fits this machine,
and that the report folder can be written.

A load test holds one socket (one file descriptor, one local port) per connection, in the
generator and, for the embedded simulator, in the simulator too; a rate is sent by a
bounded number of processes, each of which can only send so fast. Asking for more would
not measure the target: it would fail late, or grow memory until the machine gives up. Each
check raises `click.BadParameter` naming the option, the limit and where it comes from.

    processes = check_workers(0)                      # 0: one per CPU
    check_connections(500, processes=processes, embedded=True, hint="-c")
    check_report_folder(Path("sluice-report"))
"""

from __future__ import annotations

import math
import os
import resource
from pathlib import Path

import click

__all__ = [
    "MAX_CALLS",
    "MAX_POOL",
    "RATE_PER_PROCESS",
    "check_connections",
    "check_rate",
    "check_report_folder",
    "check_workers",
    "usable_cpus",
]

# File descriptors a process needs besides its load sockets: the interpreter, pipes to the
# workers and to the simulator, the report files.
_SPARE_FILES = 256
# Where /proc does not say (not Linux): the IANA dynamic port range, 49152-65535.
_DEFAULT_PORTS = 16_384
_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Requests per second one generator process can send: an asyncio loop spends tens of
# microseconds per request, so beyond this it only falls behind its schedule.
RATE_PER_PROCESS = 50_000
# Threads, processes or calls in flight of the strategy comparison: its process pool starts
# this many interpreters at once.
MAX_POOL = 256
# Calls of the strategy comparison: at its default latency, the sequential strategy alone
# then takes hours.
MAX_CALLS = 10_000


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _local_ports() -> int:
    """Local ports for connections to one address (one per connection)."""
    try:
        low, high = (int(part) for part in _PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_PORTS
    return high - low + 1


def _socket_limit() -> int | None:
    """Sockets one process can open for the load (None: no limit)."""
    try:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    except (OSError, ValueError):  # pragma: no cover - no such limit here
        return None
    if hard == resource.RLIM_INFINITY:
        return None
    return max(0, hard - _SPARE_FILES)


def check_workers(workers: int) -> int:
    """The number of generator processes (``0``: one per CPU), at most one per CPU."""
    cpus = usable_cpus()
    if workers > cpus:
        raise click.BadParameter(
            f"{workers} generator processes on {cpus} CPUs would compete for them, and "
            f"their lag would be measured instead of the target: give at most {cpus} "
            "(0: one per CPU)",
            param_hint="--workers",
        )
    return workers or cpus


def check_connections(count: int, *, processes: int, embedded: bool, hint: str) -> None:
    """Raise unless ``count`` connections to one target, spread over ``processes``
    generator processes (and all served by one simulator process if ``embedded``), fit."""
    ports = _local_ports()
    if count > ports:
        raise click.BadParameter(
            f"{count} connections need as many local ports, and this machine has {ports} "
            "for connections to one address (net.ipv4.ip_local_port_range)",
            param_hint=hint,
        )
    sockets = _socket_limit()
    if sockets is None:
        return
    per_process = count if embedded else math.ceil(count / processes)
    if per_process > sockets:
        if embedded:
            where = "the embedded simulator serves them all from one process"
        else:
            where = f"{per_process} per generator process"
        raise click.BadParameter(
            f"{count} connections need a socket each ({where}), and a process here may "
            f"open {sockets} (the open-files limit, ulimit -Hn, less {_SPARE_FILES})",
            param_hint=hint,
        )


def check_rate(rate: float, *, processes: int) -> None:
    """Raise unless ``processes`` generator processes can send ``rate`` requests/s."""
    limit = RATE_PER_PROCESS * processes
    if rate > limit:
        raise click.BadParameter(
            f"{rate:g} requests/s is beyond what the generator can send: at most "
            f"{RATE_PER_PROCESS} per generator process, {limit} with {processes} (--workers)",
            param_hint="'-r' / '--rate'",
        )


def check_report_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove it writable, so a run cannot end unreported."""
    probe = folder / f".sluice-probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise click.BadParameter(
            f"cannot write the report to {str(folder)!r}: {reason}", param_hint="'-o' / '--out'"
        ) from None
