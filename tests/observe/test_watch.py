"""The loop watchdog, on real loops really blocked: what it names, counts, calls and logs."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from sluice import ConfigError
from sluice.observe import LoopWatch, Stall, watch_loop

THRESHOLD = 0.05


def parse_huge_document() -> None:
    time.sleep(0.2)


def crunch_numbers() -> int:
    end, total = time.monotonic() + 0.2, 0
    while time.monotonic() < end:  # pure Python: the GIL is held, released only by the switch
        total += 1
    return total


async def settle() -> None:
    """Let the heartbeat the loop owes run (it is queued behind the code that blocked)."""
    await asyncio.sleep(THRESHOLD / 2)


@pytest.mark.realtime
async def test_a_sleeping_call_is_named_with_its_stack() -> None:
    seen: list[Stall] = []
    async with watch_loop(THRESHOLD, on_stall=seen.append, log_every=None) as watch:
        await settle()
        parse_huge_document()
        await settle()
    assert not watch.running
    assert len(seen) == 1
    assert watch.stalls == (seen[0],)
    stall = seen[0]
    assert stall.blocking.startswith("parse_huge_document (")
    assert __file__ in stall.blocking
    assert "parse_huge_document" in stall.stack
    assert "time.sleep(0.2)" in stall.stack  # the source line
    assert stall.frames[-1][0] == "parse_huge_document"
    assert stall.duration >= THRESHOLD
    statistics = watch.statistics()
    assert (statistics.stalls, statistics.longest) == (1, stall.duration)
    assert statistics.stalled == stall.duration
    assert statistics.max_lag >= stall.duration


@pytest.mark.realtime
async def test_cpu_bound_python_is_named() -> None:
    with watch_loop(THRESHOLD, log_every=None) as watch:
        await settle()
        crunch_numbers()
        await settle()
    assert [stall.blocking.split(" ")[0] for stall in watch.stalls] == ["crunch_numbers"]


@pytest.mark.realtime
async def test_a_responsive_loop_has_no_stall_and_reports_its_lag() -> None:
    lags: list[float] = []
    with watch_loop(THRESHOLD, on_lag=lags.append) as watch:
        await asyncio.sleep(THRESHOLD * 2)
    statistics = watch.statistics()
    assert (statistics.stalls, watch.stalls) == (0, ())
    assert statistics.beats == len(lags) >= 1
    assert all(0 <= lag <= statistics.max_lag for lag in lags)


@pytest.mark.realtime
async def test_logging_is_rate_limited_and_memory_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    with watch_loop(THRESHOLD, log_every=60, max_stalls=2) as watch:
        for _ in range(3):
            await settle()
            parse_huge_document()
        await settle()
    warnings = [r for r in caplog.records if r.name == "sluice"]
    assert len(warnings) == 1
    assert "parse_huge_document" in warnings[0].getMessage()
    statistics = watch.statistics()
    assert (statistics.stalls, statistics.suppressed, len(watch.stalls)) == (3, 2, 2)


@pytest.mark.realtime
async def test_a_failing_callback_does_not_stop_the_watching(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(stall: Stall) -> None:
        raise RuntimeError("callback bug")

    with watch_loop(THRESHOLD, on_stall=explode, on_lag=explode, log_every=None) as watch:
        for _ in range(2):
            await settle()
            parse_huge_document()
        await settle()
        assert watch.running
    assert watch.statistics().stalls == 2
    assert any("raised" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


@pytest.mark.realtime
async def test_stop_joins_the_thread_and_records_the_stall_still_open() -> None:
    watch = watch_loop(THRESHOLD, log_every=None)
    await settle()
    parse_huge_document()
    watch.stop()  # the heartbeat has not run yet: stop() settles the stall
    watch.stop()
    assert not any(t.name == "sluice-loop-watch" for t in threading.enumerate())
    assert [stall.blocking.split(" ")[0] for stall in watch.stalls] == ["parse_huge_document"]
    assert "running" not in repr(watch)


def test_a_loop_watched_from_another_thread_and_not_running_yet() -> None:
    loop = asyncio.new_event_loop()
    try:
        watch = watch_loop(THRESHOLD, loop=loop, log_every=None)
        time.sleep(THRESHOLD * 2)  # the loop is idle, not stalled: nothing runs it yet

        async def main() -> None:
            await settle()
            parse_huge_document()
            await settle()

        loop.run_until_complete(main())
        watch.stop()
    finally:
        loop.close()
    assert [stall.blocking.split(" ")[0] for stall in watch.stalls] == ["parse_huge_document"]


def test_the_watchdog_ends_with_its_loop() -> None:
    loop = asyncio.new_event_loop()
    watch = watch_loop(THRESHOLD, loop=loop)
    loop.close()
    watch._thread.join(timeout=5)
    assert not watch.running
    watch.stop()


def test_a_loop_is_needed() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        watch_loop()


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": "fast"}, "threshold"),
        ({"interval": -1.0}, "interval"),
        ({"threshold": 0.1, "interval": 0.2}, "interval"),
        ({"log_every": -1}, "log_every"),
        ({"max_stalls": 0}, "max_stalls"),
        ({"on_stall": 3}, "on_stall"),
        ({"on_lag": "x"}, "on_lag"),
        ({"loop": "x"}, "loop"),
    ],
)
def test_bad_config_names_the_parameter(arguments: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=rf"watch_loop\({name}=\.\.\.\)"):
        LoopWatch(**arguments)  # type: ignore[arg-type]
