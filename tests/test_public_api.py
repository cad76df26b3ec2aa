from __future__ import annotations

import inspect

import sluice

EXPECTED = {
    "Adaptive",
    "AdaptiveStatistics",
    "AllFailedError",
    "Attempt",
    "AttemptTimeout",
    "Backoff",
    "Breaker",
    "BreakerStatistics",
    "BroadcastResult",
    "Cache",
    "CacheStatistics",
    "CircuitOpenError",
    "Clock",
    "Concurrency",
    "ConfigError",
    "CpuFunction",
    "DeadlineExceeded",
    "DegradedWarning",
    "Err",
    "ErrorInfo",
    "Gate",
    "GateClosedError",
    "GateStatistics",
    "Hedge",
    "LatencySummary",
    "LoopClock",
    "Ok",
    "OverloadedError",
    "Rate",
    "RateStatistics",
    "RejectedError",
    "Retry",
    "RetryBudget",
    "SharedStatistics",
    "StateStatistics",
    "SluiceError",
    "SluiceTimeoutError",
    "Timeout",
    "__version__",
    "attempt_history",
    "classify_error",
    "cpu",
    "current_deadline",
    "is_retryable",
    "record_usage",
    "run_sync",
    "time_remaining",
}


def test_all_is_pinned() -> None:
    assert set(sluice.__all__) == EXPECTED
    assert sluice.__all__ == sorted(sluice.__all__)


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(sluice) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(sluice, name))}
    assert public - modules == set(sluice.__all__) - {"__version__"}


def test_public_objects_show_the_public_module() -> None:
    for name in sluice.__all__:
        obj = getattr(sluice, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "sluice", name


def test_error_tree() -> None:
    assert issubclass(sluice.ConfigError, ValueError)
    for rejection in (sluice.CircuitOpenError, sluice.OverloadedError):
        assert issubclass(rejection, sluice.RejectedError)
        assert not issubclass(rejection, sluice.SluiceTimeoutError)
    for timeout in (sluice.AttemptTimeout, sluice.DeadlineExceeded):
        assert issubclass(timeout, TimeoutError)
        assert issubclass(timeout, sluice.SluiceTimeoutError)
    for error in (sluice.RejectedError, sluice.SluiceTimeoutError, sluice.GateClosedError):
        assert issubclass(error, sluice.SluiceError)


def test_core_imports_no_third_party_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import sluice, sluice.testing; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'click', 'aiohttp', 'uvicorn', 'uvloop', 'httptools', 'openai', 'httpx'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
