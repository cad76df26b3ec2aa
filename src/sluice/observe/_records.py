"""What the loop watchdog reports: `Stall` records, `LoopWatchStatistics`, and how a captured
stack is reduced to the frame that blocked.

    frames = frames_of(sys._current_frames()[loop_thread_id])
    stall = Stall(started_at, duration, blocking_frame(frames), frames, format_frames(frames))
    print(stall.blocking)                        # "parse_huge_document (app.py:12)"
"""

from __future__ import annotations

import linecache
import os
import sysconfig
from dataclasses import dataclass
from types import FrameType

__all__ = [
    "Frame",
    "LoopWatchStatistics",
    "Stall",
    "blocking_frame",
    "format_frames",
    "frames_of",
    "where_blocked",
]

# (function, file, line)
Frame = tuple[str, str, int]

# Frames in these directories are the standard library (asyncio's run loop, selectors, json's
# decoder...): never what the application wants named as "the code that blocked". Third-party
# packages installed under the standard library's tree (site-packages) still count as user code.
_STDLIB = tuple(
    {os.path.normcase(p) + os.sep for k in ("stdlib", "platstdlib") if (p := sysconfig.get_path(k))}
)
_SITE = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
# Deep recursion must not make a capture expensive: the innermost frames are the useful ones.
_MAX_FRAMES = 200


@dataclass(frozen=True, slots=True)
class Stall:
    """One stretch of time during which the event loop ran nothing else.

    ``started_at`` is the `time.monotonic` instant the watchdog's heartbeat was posted and
    ``duration`` how long it waited for the loop: the loop was blocked at least that long (it
    may have started blocking up to one ``interval`` earlier). ``frames`` is the loop thread's
    stack while it was blocked, outermost first; ``blocking`` names the innermost frame of
    application code, ``"function (file:line)"``; ``stack`` is the same stack as text. Both are
    empty when no stack could be captured during the stall (a C call holding the GIL the whole
    time keeps the watchdog thread from running).
    """

    started_at: float
    duration: float
    blocking: str
    frames: tuple[Frame, ...]
    stack: str


@dataclass(frozen=True, slots=True)
class LoopWatchStatistics:
    """A snapshot of a `LoopWatch`: ``stalls`` seen, the ``longest`` and the ``stalled`` total
    (seconds), log lines ``suppressed`` by the rate limit, heartbeats answered (``beats``) and
    the largest heartbeat lag seen (``max_lag``, seconds)."""

    stalls: int
    longest: float
    stalled: float
    suppressed: int
    beats: int
    max_lag: float


def where_blocked(stall: Stall) -> str:
    """What a report names as the blocking code: `Stall.blocking`, or why there is none."""
    return stall.blocking or "code whose stack could not be captured"


def frames_of(frame: FrameType | None) -> tuple[Frame, ...]:
    """The stack ending at ``frame``, outermost first (at most the innermost 200 frames)."""
    found: list[Frame] = []
    while frame is not None and len(found) < _MAX_FRAMES:
        code = frame.f_code
        found.append((code.co_name, code.co_filename, frame.f_lineno or 0))
        frame = frame.f_back
    found.reverse()
    return tuple(found)


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return True
    path = os.path.normcase(filename)
    return path.startswith(_STDLIB) and not any(site in path for site in _SITE)


def blocking_frame(frames: tuple[Frame, ...]) -> str:
    """``"function (file:line)"`` of the innermost frame outside the standard library (the
    innermost frame at all when every frame is in it); ``""`` for an empty stack."""
    if not frames:
        return ""
    chosen = next((f for f in reversed(frames) if not _is_library(f[1])), frames[-1])
    function, filename, line = chosen
    return f"{function} ({filename}:{line})"


def format_frames(frames: tuple[Frame, ...]) -> str:
    """The stack as `traceback` prints it, outermost first, with source lines where readable.

    Called on the watchdog thread: reading the source files costs the loop nothing."""
    lines = []
    for func, file, line in frames:
        lines.append(f'  File "{file}", line {line}, in {func}\n')
        source = linecache.getline(file, line).strip()
        if source:
            lines.append(f"    {source}\n")
    return "".join(lines)
