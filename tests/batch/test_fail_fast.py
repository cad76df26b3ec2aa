"""A run that cannot succeed (a wrong key, a wrong model) stops after a few failures instead
of failing every request; a key refused is fixed outside the input, so the next run resends."""

from __future__ import annotations

from pathlib import Path

import sluice.batch
from sluice.batch._fail_fast import FAIL_FAST_AFTER, FailFast
from sluice.llm import Client, MockResponse, MockTransport, Request
from tests.llm.fakes import completion, error_body

from .files import output_ids, write_chat_input

BASE = "http://api.test/v1"


def test_setup_failures_before_any_success_stop_the_run() -> None:
    fail_fast = FailFast()
    reasons = [fail_fast.failed(401, "invalid key") for _ in range(FAIL_FAST_AFTER)]
    assert reasons[:-1] == [None] * (FAIL_FAST_AFTER - 1)
    assert reasons[-1] is not None
    assert "HTTP 401 (invalid key)" in reasons[-1]
    assert "the API key" in reasons[-1]


def test_one_success_means_the_setup_works() -> None:
    fail_fast = FailFast()
    fail_fast.succeeded()
    assert all(fail_fast.failed(404, "no such model") is None for _ in range(10))


def test_other_failures_and_changing_statuses_do_not_add_up() -> None:
    fail_fast = FailFast()
    assert all(fail_fast.failed(400, "bad") is None for _ in range(10))
    assert fail_fast.failed(401, "key") is None
    assert fail_fast.failed(404, "model") is None  # a new status starts a new count
    assert fail_fast.failed(401, "key") is None
    assert fail_fast.failed(401, "key") is None


async def test_a_wrong_key_stops_the_run_and_the_next_run_sends_those_requests_again(
    tmp_path: Path,
) -> None:
    source = write_chat_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    key_ok = False
    sent: list[str] = []

    def upstream(request: Request) -> MockResponse:
        sent.append(request.json()["messages"][0]["content"])
        if not key_ok:
            return MockResponse(401, json=error_body("Incorrect API key provided"))
        return MockResponse(json=completion("fine"))

    async with Client(BASE, "sk-wrong", transport=MockTransport(upstream)) as client:
        first = await sluice.batch.run(source, out, client=client, window=8)
    assert first.stopped is not None
    assert first.stopped.startswith("the first 3 requests failed with HTTP 401")
    # The window, plus the next request of each worker whose failure came before the stop.
    assert len(sent) <= 8 + FAIL_FAST_AFTER - 1
    assert first.failed == len(sent)
    assert first.done == 0

    key_ok = True
    async with Client(BASE, "sk-right", transport=MockTransport(upstream)) as client:
        second = await sluice.batch.run(source, out, client=client, window=8)
    assert second.succeeded
    assert second.sent == 40  # the refused ones too: a key is fixed outside the input
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(40))
