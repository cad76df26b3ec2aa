"""The shared gate's scripts against the local state machines, instant by instant.

Each property runs the Lua script on a real Redis and the local model at the same instants
(the scripts take the caller's clock when given one): the shared rate books exactly the slots
the local GCRA books, never more than the burst plus the rate allows; leases are never
granted past the limit and come back when they expire; the shared breaker opens and closes
where the local one does, and admits exactly its half-open probes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice import Breaker, Rate
from sluice._stages.breaker import CircuitBreaker
from sluice._stages.rate import RateLimiter
from sluice.stores._redis_scripts import FULL, GO, OPEN, PROBING, WAIT
from tests.shared.scripts import ScriptDriver

EPOCH = 1_700_000_000.0  # instants near today's, where the scripts keep microseconds
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def url(redis_url: str) -> str:
    """A flushed database (hypothesis examples flush again: the fixture runs once a test)."""
    return redis_url


steps = st.lists(st.tuples(st.floats(0.0, 0.5), st.integers(0, 3000)), min_size=1, max_size=40)


@SETTINGS
@given(steps=steps, rps=st.sampled_from([2.0, 10.0, 50.0]), burst=st.integers(1, 5))
def test_the_shared_rate_books_the_slots_the_local_gcra_books(
    url: str, steps: list[tuple[float, int]], rps: float, burst: int
) -> None:
    rate = Rate(rps=rps, burst=burst, tpm=60_000, token_burst=2000)
    driver = ScriptDriver(url, rate=rate)
    driver.client.flushall()
    local = RateLimiter(rate)
    now = EPOCH
    try:
        for gap, tokens in steps:
            now += gap
            # Above the 2000-token bucket, but within a minute's budget: booked whole, and
            # admitted once the bucket is full.
            reserved = float(tokens)
            slot = local.book(reserved, None, now)
            reply = driver.admit(now=now, tokens=tokens)
            assert reply.code in (GO, WAIT)
            assert reply.reserved == pytest.approx(reserved)
            assert reply.seconds == pytest.approx(slot - now, abs=1e-4)
    finally:
        driver.close()


@SETTINGS
@given(gaps=st.lists(st.floats(0.0, 0.2), min_size=2, max_size=60), burst=st.integers(1, 4))
def test_the_shared_rate_never_grants_more_than_burst_plus_rate(
    url: str, gaps: list[float], burst: int
) -> None:
    rps = 20.0
    driver = ScriptDriver(url, rate=Rate(rps=rps, burst=burst))
    driver.client.flushall()
    now = EPOCH
    slots = []
    try:
        for gap in gaps:
            now += gap
            slots.append(now + driver.admit(now=now).seconds)
    finally:
        driver.close()
    slots.sort()
    for first in range(len(slots)):
        for last in range(first, len(slots)):
            granted = last - first + 1
            # (1e-3: the instants are near the epoch, where a float keeps ~0.2 µs)
            assert granted <= burst + (slots[last] - slots[first]) * rps + 1e-3


def test_a_deadline_before_the_slot_books_nothing(url: str) -> None:
    driver = ScriptDriver(url, rate=Rate(rps=1.0))
    try:
        assert driver.admit(now=EPOCH).code == GO
        late = driver.admit(now=EPOCH, deadline=0.5)  # the next slot is 1 s away
        assert (late.code, late.seconds) == (5, pytest.approx(1.0))
        assert driver.admit(now=EPOCH).seconds == pytest.approx(1.0)  # still the next one
    finally:
        driver.close()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(0, 7)),
        st.tuples(st.just("give"), st.integers(0, 7)),
        st.tuples(st.just("wait"), st.floats(0.0, 1.5)),
    ),
    min_size=1,
    max_size=50,
)


@SETTINGS
@given(ops=ops, limit=st.integers(1, 4))
def test_leases_follow_the_model_and_never_exceed_the_limit(
    url: str, ops: list[tuple[str, float]], limit: int
) -> None:
    driver = ScriptDriver(url, limit=limit, lease_for=1.0)
    driver.client.flushall()
    held: dict[str, float] = {}  # lease -> expiry
    now = EPOCH
    try:
        for op, value in ops:
            held = {lease: end for lease, end in held.items() if end > now}
            if op == "wait":
                now += value
                continue
            lease = f"lease-{value}"
            if op == "give":
                driver.outcomes(("r", lease), now=now)
                held.pop(lease, None)
                continue
            if lease in held:
                continue  # one lease id is taken once
            reply = driver.admit(now=now, lease=lease)
            if len(held) < limit:
                assert (reply.code, reply.held) == (GO, len(held) + 1)
                held[lease] = now + 1.0
            else:
                assert (reply.code, reply.held) == (FULL, limit)
            assert len(held) <= limit
    finally:
        driver.close()


outcomes = st.lists(st.sampled_from(["ok", "fail", "neutral", "wait"]), max_size=60)


@SETTINGS
@given(outcomes=outcomes)
def test_the_shared_breaker_moves_where_the_local_one_does(url: str, outcomes: list[str]) -> None:
    config = Breaker(failure_rate=0.5, window=6, min_calls=4, open_for=1.0)
    driver = ScriptDriver(url, breaker=config)
    driver.client.flushall()
    local = CircuitBreaker(config)
    now = EPOCH
    try:
        for outcome in outcomes:
            if outcome == "wait":
                now += 0.6
                continue
            try:
                ticket = local.admit(now)
            except Exception:
                assert driver.admit(now=now).code in (OPEN, PROBING)
                continue
            reply = driver.admit(now=now)
            assert reply.code == GO
            assert reply.ticket == ticket
            failed = {"ok": False, "fail": True, "neutral": None}[outcome]
            local.record(ticket, now, failed=failed, duration=0.0)
            code = -1 if failed is None else int(failed)
            state = driver.outcomes(("o", ticket, code), now=now)[1]
            assert ("closed", "open", "half_open")[int(state)] == local.state(now)
    finally:
        driver.close()


def test_half_open_admits_exactly_its_probes_and_a_lost_probe_expires(url: str) -> None:
    config = Breaker(failure_rate=0.5, window=2, min_calls=2, open_for=1.0, half_open_probes=2)
    driver = ScriptDriver(url, breaker=config, lease_for=5.0)
    try:
        for _ in range(2):
            ticket = driver.admit(now=EPOCH).ticket
            driver.outcomes(("o", ticket, 1), now=EPOCH)
        assert driver.admit(now=EPOCH + 0.5).code == OPEN
        later = EPOCH + 1.0
        codes = [driver.admit(now=later).code for _ in range(5)]
        assert codes == [GO, GO, PROBING, PROBING, PROBING]
        # Both probes' processes died: after a lease's time, the probes count no more.
        assert driver.admit(now=later + 4.9).code == PROBING
        assert driver.admit(now=later + 5.1).code == GO
    finally:
        driver.close()


def test_an_admission_gives_back_the_leases_it_carries_first(url: str) -> None:
    driver = ScriptDriver(url, limit=1)
    try:
        assert driver.admit(now=EPOCH, lease="first").code == GO
        assert driver.admit(now=EPOCH, lease="second").code == FULL
        # The process that held "first" released it: its next admission carries the release.
        reply = driver.admit(now=EPOCH, lease="second", releases=("first", "unknown"))
        assert (reply.code, reply.held, reply.released) == (GO, 1, 1)
    finally:
        driver.close()
