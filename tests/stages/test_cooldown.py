"""The cooldown stage: waiting out a pause."""

from __future__ import annotations

import pytest

import sluice
from sluice._core.call import Call
from sluice._stages.cooldown import Cooldown


def noop() -> None:
    return None


def test_a_caller_whose_deadline_comes_first_is_told_when_to_return() -> None:
    cooldown = Cooldown(gate="g")
    cooldown.pause(until=100.0)
    call = Call(noop, (), {}, None)
    call.deadline = 30.0
    with pytest.raises(sluice.DeadlineExceeded, match="paused for 90s") as info:
        cooldown.before(call, 10.0)
    assert info.value.retry_after == 90.0
    assert info.value.timeout == 20.0
