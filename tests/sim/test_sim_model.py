"""Pure pieces of the simulator: latency model, schedule, content, rate limits, faults."""

from __future__ import annotations

import random
import statistics

import pytest

from sluice.openai import encode_embedding_base64
from sluice.sim import SimConfig, count_tokens
from sluice.sim._content import Corpus, embedding
from sluice.sim._faults import FaultPicker, UnknownFaultError
from sluice.sim._latency import Jitter, LatencyModel, TokenSchedule
from sluice.sim._limits import KeyRateBuckets

# ---------------------------------------------------------------- latency


def test_schedule_is_absolute() -> None:
    model = LatencyModel(SimConfig(ttft=0.2, itl=0.02), random.Random(0))
    schedule = TokenSchedule(start=100.0, ttft=model.time_to_first_token(0, active=1))
    deadlines = [schedule.deadline]
    for _ in range(9):
        deadlines.append(schedule.advance(model.inter_token(active=1)))
    assert deadlines == pytest.approx([100.0 + 0.2 + i * 0.02 for i in range(10)], abs=1e-9)


def test_late_emission_does_not_shift_the_schedule() -> None:
    schedule = TokenSchedule(start=0.0, ttft=1.0)
    # The first token went out 0.5 s late; the next one is still due 1.1 s after start.
    assert schedule.lateness(now=1.5) == pytest.approx(0.5)
    assert schedule.advance(0.1) == pytest.approx(1.1)
    assert schedule.lateness(now=1.5) == pytest.approx(0.4)


def test_ttft_includes_per_token_prefill() -> None:
    model = LatencyModel(SimConfig(ttft=0.1, prefill_per_token=0.001), random.Random(0))
    assert model.time_to_first_token(500, active=1) == pytest.approx(0.6)


def test_load_factor_grows_linearly_to_the_batch() -> None:
    config = SimConfig(itl=0.01, load_factor=3.0, max_concurrency=5)
    model = LatencyModel(config, random.Random(0))
    assert [model.load(n) for n in (0, 1, 3, 5)] == pytest.approx([1.0, 1.0, 2.0, 3.0])
    assert model.inter_token(active=5) == pytest.approx(0.03)
    assert model.time_to_first_token(0, active=1) == 0.0


def test_decode_time_and_slow_drip() -> None:
    model = LatencyModel(SimConfig(itl=0.01, slow_itl=0.1), random.Random(0))
    assert model.decode_time(1, active=1) == 0.0
    assert model.decode_time(11, active=1) == pytest.approx(0.1)
    assert model.decode_time(11, active=1, slow=True) == pytest.approx(1.0)
    assert model.inter_token(active=1, slow=True) == pytest.approx(0.1)


@pytest.mark.parametrize("kind", ["normal", "lognormal"])
def test_jitter_keeps_the_mean_and_spreads(kind: str) -> None:
    jitter = Jitter(kind, cv=0.3)
    rng = random.Random(42)
    samples = [jitter.sample(rng, 0.02) for _ in range(20_000)]
    assert statistics.fmean(samples) == pytest.approx(0.02, rel=0.03)
    assert statistics.stdev(samples) == pytest.approx(0.006, rel=0.15)
    assert min(samples) >= 0


def test_normal_jitter_is_clamped() -> None:
    jitter = Jitter("normal", cv=0.5)
    rng = random.Random(1)
    samples = [jitter.sample(rng, 1.0) for _ in range(5_000)]
    assert min(samples) >= 0.0
    assert max(samples) <= 2.0


def test_constant_jitter_is_exact() -> None:
    assert Jitter("constant", cv=0.9).sample(random.Random(0), 0.5) == 0.5


# ---------------------------------------------------------------- content


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("Hello, world!", 4), ("  spaced   out  ", 2), ("don't", 3), ("a_b 42", 2)],
)
def test_tokenizer(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


def test_content_is_deterministic_and_counts_match() -> None:
    corpus = Corpus(seed=0)
    offset = corpus.offset("sim-model", b"user\x1fhello")
    assert offset == Corpus(seed=0).offset("sim-model", b"user\x1fhello")
    for count in (1, 7, 100, 5000):  # 5000 wraps around the corpus
        text = corpus.text(offset, count)
        assert count_tokens(text) == count
        assert not text.startswith(" ")


def test_content_depends_on_prompt_model_and_seed() -> None:
    corpus = Corpus(seed=0)
    base = corpus.text(corpus.offset("m", b"a"), 20)
    assert corpus.text(corpus.offset("m", b"b"), 20) != base
    assert corpus.text(corpus.offset("n", b"a"), 20) != base
    other = Corpus(seed=1)
    assert other.text(other.offset("m", b"a"), 20) != base


def test_stream_pieces_join_to_the_whole_text() -> None:
    corpus = Corpus(seed=5)
    offset = corpus.offset("m", b"x")
    indices = corpus.indices(offset, 12)
    joined = "".join(
        corpus.json_piece(i, first=n == 0)[1:-1].decode() for n, i in enumerate(indices)
    )
    assert joined == corpus.text(offset, 12)


def test_embeddings_are_deterministic_unit_vectors() -> None:
    vector = embedding(0, "e", b"hello", 64)
    assert vector == embedding(0, "e", b"hello", 64)
    assert vector != embedding(0, "e", b"hello!", 64)
    assert sum(v * v for v in vector) == pytest.approx(1.0)
    assert len(encode_embedding_base64(vector)) == 4 * ((64 * 4 + 2) // 3)


# ---------------------------------------------------------------- rate limits


def test_requests_per_minute_limit_and_headers() -> None:
    limiter = KeyRateBuckets(rpm=2, tpm=0, burst=60.0)
    first = limiter.acquire("k", tokens=10, now=0.0)
    assert first.allowed
    assert dict(first.headers()) == {
        b"x-ratelimit-limit-requests": b"2",
        b"x-ratelimit-remaining-requests": b"1",
        b"x-ratelimit-reset-requests": b"30s",
    }
    assert limiter.acquire("k", tokens=10, now=0.0).allowed
    refused = limiter.acquire("k", tokens=10, now=0.0)
    assert not refused.allowed
    assert refused.limited_by == "requests"
    assert refused.retry_after == pytest.approx(30.0)
    headers = dict(refused.headers())
    assert headers[b"retry-after"] == b"30"
    assert headers[b"retry-after-ms"] == b"30000"
    # Keys are independent, and the bucket refills with time.
    assert limiter.acquire("other", tokens=1, now=0.0).allowed
    assert limiter.acquire("k", tokens=1, now=30.0).allowed


def test_tokens_per_minute_limit() -> None:
    limiter = KeyRateBuckets(rpm=0, tpm=600, burst=60.0)
    assert limiter.acquire("k", tokens=500, now=0.0).allowed
    refused = limiter.acquire("k", tokens=200, now=0.0)
    assert not refused.allowed
    assert refused.limited_by == "tokens"
    assert refused.retry_after == pytest.approx(10.0)  # 100 tokens at 10 tokens/s
    assert dict(refused.headers())[b"x-ratelimit-remaining-tokens"] == b"100"
    assert b"x-ratelimit-limit-requests" not in dict(refused.headers())
    assert limiter.acquire("k", tokens=200, now=10.0).allowed


def test_refusal_takes_nothing_and_oversized_requests_wait_for_a_full_bucket() -> None:
    limiter = KeyRateBuckets(rpm=60, tpm=100, burst=60.0)
    assert limiter.acquire("k", tokens=50, now=0.0).allowed
    assert not limiter.acquire("k", tokens=1000, now=0.0).allowed
    assert limiter.peek("k", now=0.0).request_remaining == 59  # the refusal took no request
    assert limiter.acquire("k", tokens=1000, now=30.0).allowed  # full again: admitted into debt
    assert limiter.peek("k", now=30.0).token_remaining == 0


# ---------------------------------------------------------------- faults


def test_forced_faults_win_and_unknown_ones_are_named() -> None:
    picker = FaultPicker({"500": 1.0}, seed=0)
    assert picker.pick(b"hang") == "hang"
    assert picker.pick(b" 429 ") == "429"
    assert picker.pick(b"none") is None
    assert picker.pick(None) == "500"
    with pytest.raises(UnknownFaultError, match="unknown x-sim-fault 'boom'; known faults: 400"):
        picker.pick(b"boom")


def test_random_faults_are_seeded_and_follow_their_probabilities() -> None:
    first = FaultPicker({"500": 0.2, "hang": 0.1}, seed=9)
    second = FaultPicker({"500": 0.2, "hang": 0.1}, seed=9)
    run_a = [first.pick(None) for _ in range(5_000)]
    run_b = [second.pick(None) for _ in range(5_000)]
    assert run_a == run_b
    assert run_a.count("500") / 5_000 == pytest.approx(0.2, abs=0.03)
    assert run_a.count("hang") / 5_000 == pytest.approx(0.1, abs=0.02)
    assert FaultPicker({}, seed=0).pick(None) is None
