"""The cooldown stage: capped pauses, sporadic 429s that pause no one, bad pauses refused."""

from __future__ import annotations

import math

import pytest

import sluice
from sluice._core.call import Call
from sluice._stages.cooldown import Cooldown
from tests.stages.calls import failed, noop


def test_an_overloaded_refusal_pauses_the_gate_for_its_retry_after() -> None:
    cooldown = Cooldown(gate="g", max_pause=120.0)
    cooldown.after(failed(retry_after=20.0), 1.0)
    assert cooldown.remaining(1.0) == 20.0


def test_a_day_long_retry_after_is_capped() -> None:
    cooldown = Cooldown(gate="g", max_pause=120.0)
    cooldown.after(failed(retry_after=86_400.0), 5.0)
    assert cooldown.until == 125.0


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (failed(retry_after=None), "no Retry-After"),
        (failed(retry_after=0.0), "nothing to wait"),
        (failed(retry_after=5.0, overloaded=False), "not an overload signal"),
    ],
)
def test_what_does_not_pause(call: Call, why: str) -> None:
    assert Cooldown(gate="g").pause_after(call) == 0.0, why


def test_a_429_while_the_quota_has_room_pauses_no_one() -> None:
    cooldown = Cooldown(gate="g", max_pause=120.0)
    cooldown.report_quota(2.0, left=True)  # the 429's own headers: 590 of 600 remain
    assert cooldown.pause_after(failed(retry_after=1.0, started=1.5)) == 0.0


def test_a_429_with_the_quota_spent_pauses_everyone() -> None:
    cooldown = Cooldown(gate="g", max_pause=120.0)
    cooldown.report_quota(2.0, left=False)
    assert cooldown.pause_after(failed(retry_after=1.0, started=1.5)) == 1.0


def test_a_report_older_than_the_attempt_does_not_count() -> None:
    cooldown = Cooldown(gate="g", max_pause=120.0)
    cooldown.report_quota(1.0, left=True)  # the quota had room before this attempt was sent
    assert cooldown.pause_after(failed(retry_after=3.0, started=1.5)) == 3.0


def test_an_overloaded_server_pauses_everyone_whatever_the_quota() -> None:
    cooldown = Cooldown(gate="g", max_pause=120.0)
    cooldown.report_quota(2.0, left=True)
    assert cooldown.pause_after(failed(retry_after=4.0, status=503, started=1.5)) == 4.0


def test_a_caller_whose_deadline_comes_first_is_told_when_to_return() -> None:
    cooldown = Cooldown(gate="g")
    cooldown.pause(until=100.0)
    call = Call(noop, (), {}, None)
    call.deadline = 30.0
    with pytest.raises(sluice.DeadlineExceeded, match="paused for 90s") as info:
        cooldown.before(call, 10.0)
    assert info.value.retry_after == 90.0
    assert info.value.timeout == 20.0


@pytest.mark.parametrize("until", [math.inf, math.nan, -math.inf, "later", None])
def test_a_pause_without_a_finite_end_is_refused(until: object) -> None:
    cooldown = Cooldown(gate="g")
    with pytest.raises(sluice.ConfigError, match=r"gate\.pause\(seconds=\.\.\.\)"):
        cooldown.pause(until)  # type: ignore[arg-type]
    assert cooldown.remaining(0.0) == 0.0
    assert not cooldown.admits
