"""Offloaded jobs not finished yet, across every gate and store of the process.

The virtual-time loop of `sluice.testing` reads the count: while real work runs on a thread or
a process, it lets time flow at the real rate instead of jumping to the next timer.

    job_started()
    try: ... finally: job_finished()
"""

from __future__ import annotations

import threading

__all__ = ["job_finished", "job_started", "pending_jobs"]

_lock = threading.Lock()
_pending = 0


def pending_jobs() -> int:
    """Offloaded calls (threads and processes, all gates) that have not finished yet."""
    return _pending


def job_started() -> None:
    global _pending
    with _lock:
        _pending += 1


def job_finished() -> None:
    global _pending
    with _lock:
        _pending -= 1
