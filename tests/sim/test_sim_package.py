"""The simulator keeps its public names; its limiters are named apart from the core's."""

from __future__ import annotations

import sluice
import sluice.sim


def test_public_names_are_pinned() -> None:
    assert sluice.sim.__all__ == [
        "FAULT_NAMES",
        "SimApp",
        "SimConfig",
        "SimMetrics",
        "SimProcess",
        "SimServer",
        "count_tokens",
        "format_reset",
        "load_config",
    ]


def test_format_reset_is_the_protocol_duration_format() -> None:
    assert sluice.sim.format_reset(0.02) == "20ms"
    assert sluice.sim.format_reset(360.0) == "6m0s"
    assert sluice.sim.format_reset(3723.0) == "1h2m3s"


def test_no_simulator_limiter_shares_a_name_with_a_core_one() -> None:
    import importlib
    import pkgutil

    import sluice._stages
    import sluice.policies
    from sluice.sim import _capacity, _limits

    core: set[str] = set()
    for package in (sluice._stages, sluice.policies):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            core.update(name for name in vars(module) if isinstance(vars(module)[name], type))
    assert "RateLimiter" in core  # the name the simulator used to share
    simulator = {*_capacity.__all__, *_limits.__all__}
    assert not simulator & core
