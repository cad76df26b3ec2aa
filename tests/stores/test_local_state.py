"""The local state store's controls: reported limits pace without pausing."""

from __future__ import annotations

import math

import pytest

from sluice._core.state import GateSpec
from sluice.stores._local import LocalStore
from sluice.testing import ManualClock


def test_an_empty_budget_with_a_reset_does_not_pause_the_gate() -> None:
    state = LocalStore().open(GateSpec("g", ManualClock()))
    state.observe_limits(
        0.0,
        requests_limit=600,
        requests_remaining=0,
        requests_reset=60.0,
        tokens_limit=100_000,
        tokens_remaining=0,
        tokens_reset=60.0,
    )
    stats = state.statistics(0.0)
    assert stats.paused_for == 0.0
    assert stats.rate is not None
    assert stats.rate.delay == pytest.approx(0.1)  # one request interval, not the 60 s reset


def test_absurd_limits_do_not_add_a_rate_stage() -> None:
    state = LocalStore().open(GateSpec("g", ManualClock()))
    state.observe_limits(0.0, requests_limit=math.nan, tokens_limit=-1.0, requests_reset=math.inf)
    assert state.rate is None
    assert state.stages == ()
