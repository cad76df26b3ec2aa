"""sluice: flow control for AI calls.

Run calls to LLMs, retrievers, tools and peers concurrently, bounded and safely: a `Gate`
bundles a concurrency limit, rate limits, retries, timeouts and a circuit breaker around one
kind of upstream, and runs async, blocking and CPU-bound functions alike.

    gate = sluice.Gate("llm", concurrency=16, rate=sluice.Rate(rpm=600), retry=4, timeout=30)
    answer = await gate.run(ask_model, prompt)
    print(gate.statistics().latency.p99)
"""

import contextlib
import logging

from ._classify import ErrorInfo, classify_error
from ._clock import Clock, LoopClock
from ._core.deadline import current_deadline, time_remaining
from ._core.state import SharedStatistics, StateStatistics
from ._core.usage import record_usage
from ._degraded import DegradedWarning
from ._errors import (
    AttemptTimeout,
    CircuitOpenError,
    ConfigError,
    DeadlineExceeded,
    GateClosedError,
    OverloadedError,
    RejectedError,
    SluiceError,
    SluiceTimeoutError,
)
from ._executors.portal import run_sync
from ._executors.processes import CpuFunction, cpu
from ._fanout.broadcast import AllFailedError, BroadcastResult
from ._gate import Gate
from ._outcome import Err, Ok
from ._stats import GateStatistics, LatencySummary
from .policies.adaptive import Adaptive, AdaptiveStatistics
from .policies.backoff import Backoff
from .policies.breaker import Breaker, BreakerStatistics
from .policies.budget import RetryBudget
from .policies.cache import Cache, CacheStatistics
from .policies.hedge import Hedge
from .policies.limit import Concurrency
from .policies.rate import Rate, RateStatistics
from .policies.retry import Attempt, Retry, attempt_history, is_retryable
from .policies.timeout import Timeout

__version__ = "0.1.0"

__all__ = [
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
    "SluiceError",
    "SluiceTimeoutError",
    "StateStatistics",
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
]

# A library logs, the application decides where logs go (and by default nowhere).
logging.getLogger("sluice").addHandler(logging.NullHandler())

# Tracebacks and reprs show the public path (sluice.Gate), not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        with contextlib.suppress(AttributeError, TypeError):  # some builtins refuse
            _obj.__module__ = __name__
del _name, _obj, contextlib, logging
