from __future__ import annotations

import inspect

import sluice.observe
import sluice.testing


def test_all_is_pinned() -> None:
    assert sluice.observe.__all__ == [
        "GateCollector",
        "LoopLagMonitor",
        "LoopWatch",
        "LoopWatchStatistics",
        "QueuedLogging",
        "Stall",
        "loop_lag_histogram",
        "queue_logging",
        "register_metrics",
        "unregister_metrics",
        "watch_loop",
    ]
    assert {"NoStalls", "no_stalls"} <= set(sluice.testing.__all__)


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(sluice.observe) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(sluice.observe, name))}
    assert public - modules == set(sluice.observe.__all__)


def test_public_objects_show_the_public_module() -> None:
    for name in sluice.observe.__all__:
        assert getattr(sluice.observe, name).__module__ == "sluice.observe", name
