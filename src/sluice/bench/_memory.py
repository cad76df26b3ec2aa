"""What a benchmark process occupies: its peak resident set and its proportional set size.

peak_rss()      # bytes: ru_maxrss, whatever unit the platform reports it in
pss()           # bytes (Linux), 0 where unknown
"""

from __future__ import annotations

import resource
import sys

__all__ = ["peak_rss", "pss"]

_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere


def peak_rss() -> int:
    """The process's peak resident set size in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT


def pss() -> int:
    """Current proportional set size in bytes (Linux), 0 where unknown."""
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as file:
            for line in file:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
