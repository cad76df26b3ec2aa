"""The local state store's controls: reported limits pace without pausing, pauses are capped."""

from __future__ import annotations

import math

import pytest

from sluice._core.state import DEFAULT_MAX_PAUSE, GateSpec
from sluice.policies.rate import Rate
from sluice.stores._local import LocalStore
from sluice.testing import ManualClock
from tests.stages.calls import failed


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


def test_the_pause_an_upstream_asks_for_is_capped_by_the_spec() -> None:
    state = LocalStore().open(GateSpec("g", ManualClock(), max_pause=15.0))
    state.cooldown.after(failed(status=503, retry_after=86_400.0), 1.0)
    assert state.statistics(1.0).paused_for == 15.0


def test_without_a_cap_in_the_spec_the_default_applies() -> None:
    state = LocalStore().open(GateSpec("g", ManualClock()))
    state.cooldown.after(failed(status=503, retry_after=86_400.0), 0.0)
    assert state.statistics(0.0).paused_for == DEFAULT_MAX_PAUSE


@pytest.mark.parametrize(
    ("remaining", "paused_for"),
    [
        ({"requests_remaining": 590, "tokens_remaining": 80_000}, 0.0),  # room left: sporadic
        ({"requests_remaining": 590, "tokens_remaining": 0}, 2.0),  # the token quota is spent
        ({"requests_remaining": 0}, 2.0),
        ({}, 2.0),  # nothing reported: the 429 itself is all there is to go by
    ],
)
def test_a_429_pauses_everyone_only_when_the_reported_quota_is_spent(
    remaining: dict[str, float], paused_for: float
) -> None:
    state = LocalStore().open(GateSpec("g", ManualClock(), rate=Rate(rpm=600)))
    state.observe_limits(1.0, requests_limit=600, **remaining)
    state.cooldown.after(failed(retry_after=2.0, started=0.5), 1.0)
    assert state.statistics(1.0).paused_for == paused_for
