"""Helpers shared by the benchmark scripts: medians over rounds, a small table printer."""

from __future__ import annotations

import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence


def header(title: str, command: str) -> None:
    print(f"== {title}")
    print(f"   command: {command}")
    print(f"   python {platform.python_version()} on {platform.machine()}, {sys.platform}")


def timed(run: Callable[[], object]) -> float:
    """Wall seconds of one call, after a garbage collection so rounds start alike."""
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(rows: Sequence[Sequence[str]], head: Sequence[str]) -> None:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print("   " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        print("   " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
