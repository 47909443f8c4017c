"""The API's small parts on their own: keys, the token bucket, query batching and stage deadlines."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from api.batching import BatchingQueryEmbedder
from api.errors import StageTimeout
from api.keys import AuthenticationError, KeyStore
from api.ratelimit import TokenBucketLimiter
from api.stages import DeadlineStream, RequestCancelled, StageClock, StageDeadlines, _in_clock, run_with_deadlines
from rag.pipeline_hooks import stages

# -- keys -------------------------------------------------------------------------------------------


def test_keys_authenticate_by_hash_and_nest_their_scopes(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite3")
    key, token = store.create(["a", "b"], "write", note="ci")
    found = store.authenticate(token)
    assert found.id == key.id and found.reaches("b") and not found.reaches("c")
    assert found.has_scope("read") and found.has_scope("write") and not found.has_scope("admin")
    with pytest.raises(AuthenticationError, match="malformed"):
        store.authenticate("Bearer " + token)
    with pytest.raises(AuthenticationError) as unknown:
        store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert unknown.value.reason == "unknown"
    store.revoke(key.id)
    with pytest.raises(AuthenticationError) as revoked:
        store.authenticate(token)
    assert revoked.value.reason == "revoked" and not store.has_active_keys()


def test_a_key_needs_a_collection_and_a_known_scope(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite3")
    with pytest.raises(ValueError, match="--collection"):
        store.create([], "read")
    with pytest.raises(ValueError, match="read, write, admin"):
        store.create(["a"], "owner")


# -- rate limit -------------------------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_refills():
    now = [0.0]
    limiter = TokenBucketLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.acquire("k"), limiter.acquire("k")] == [0.0, 0.0]
    assert limiter.acquire("k") == pytest.approx(1.0)  # one token a second
    assert limiter.acquire("other") == 0.0
    now[0] += 1.0
    assert limiter.acquire("k") == 0.0
    now[0] += 100
    assert [limiter.acquire("k") for _ in range(3)][:2] == [0.0, 0.0]  # never more than the burst


def test_a_zero_rate_means_no_limit():
    limiter = TokenBucketLimiter(per_minute=0, burst=1)
    assert not limiter.enabled and all(limiter.acquire("k") == 0.0 for _ in range(100))


# -- query batching ---------------------------------------------------------------------------------


class GatedEmbedder:
    """Records batch sizes; the first call waits until released."""

    dimension = 3

    def __init__(self):
        self.batches: list[list[str]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def embed(self, texts):
        self.batches.append(list(texts))
        self.entered.set()
        self.release.wait(30)
        if "fail" in texts:
            raise RuntimeError("model broke")
        return np.array([[len(t), 0.0, 1.0] for t in texts], dtype=np.float32)


def wait_until(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


def test_questions_arriving_while_the_model_is_busy_share_one_call():
    inner = GatedEmbedder()
    embedder = BatchingQueryEmbedder(inner, max_batch=16)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(embedder.embed_query, "a")
        assert inner.entered.wait(30)
        rest = [pool.submit(embedder.embed_query, "b" * n) for n in range(1, 6)]
        wait_until(lambda: embedder.queued == 5)
        inner.release.set()
        assert first.result()[0] == 1.0
        assert [f.result()[0] for f in rest] == [1.0, 2.0, 3.0, 4.0, 5.0]  # each caller gets its own row
    assert [len(batch) for batch in inner.batches] == [1, 5]
    assert embedder.dimension == 3  # everything else is the wrapped embedder's
    embedder.close()


def test_a_failed_batch_fails_each_of_its_callers():
    inner = GatedEmbedder()
    inner.release.set()
    embedder = BatchingQueryEmbedder(inner)
    with pytest.raises(RuntimeError, match="model broke"):
        embedder.embed_query("fail")
    assert embedder.embed_query("ok")[0] == 2.0  # the next batch works
    embedder.close()


def test_batched_vectors_equal_the_model_s_own(embedder):
    batching = BatchingQueryEmbedder(embedder)
    questions = ["trip speed of unit 3", "on-call allowance", "spillway siren"]
    with ThreadPoolExecutor(3) as pool:
        vectors = list(pool.map(batching.embed_query, questions))
    alone = np.stack([embedder.embed_query(question) for question in questions])
    got = np.stack(vectors)
    assert (got @ alone.T).argmax(axis=1).tolist() == [0, 1, 2]  # each caller gets its own row
    if embedder.backend == "onnx-int8":
        # int8 dynamic quantization scales activations per batch, so a row moves with its batch mates:
        # batched vs alone measured cosine ≥ 0.987 when one worker encodes them together (a 1-core
        # machine). Same bound as int8 vs torch in tests/rag/test_embedding_backends.py.
        assert (got * alone).sum(axis=1).min() > 0.95
    else:
        # float32 unit vectors: rounding ~1e-7 per component, whatever the batch
        assert np.allclose(got, alone, atol=1e-5)
    batching.close()


# -- stage deadlines --------------------------------------------------------------------------------


def pipeline_work(retrieve_s: float = 0.0, generate_s: float = 0.0, verify_s: float = 0.0):
    """A question's stages as the pipeline runs them, each under the API's stage hook."""
    hooks = [StageDeadlines()]

    def work():
        with stages(hooks, "retrieval"):
            time.sleep(retrieve_s)
            passages = ["q"]
        with stages(hooks, "generation"):
            time.sleep(generate_s)
        with stages(hooks, "verification"):
            time.sleep(verify_s)
            return f"checked {passages[0]}"

    return work


LIMITS = {"retrieval": 0.2, "generation": 0.2, "verification": 0.2}


@pytest.mark.parametrize("slow_stage", ["retrieval", "generation", "verification"])
def test_the_stage_that_overruns_is_named(slow_stage):
    seconds = {"retrieval": (1, 0, 0), "generation": (0, 1, 0), "verification": (0, 0, 1)}[slow_stage]
    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(StageTimeout) as raised:
            asyncio.run(run_with_deadlines(pool, pipeline_work(*seconds), LIMITS))
    assert raised.value.stage == slow_stage and raised.value.limit_s == 0.2


def test_work_within_its_deadlines_returns_its_result():
    with ThreadPoolExecutor(2) as pool:
        assert asyncio.run(run_with_deadlines(pool, pipeline_work(), LIMITS)) == "checked q"


def test_work_nobody_waits_for_stops_before_its_next_stage():
    clock = StageClock()
    entered = []
    hooks = [StageDeadlines()]

    def work():
        with stages(hooks, "retrieval"):
            entered.append(clock.stage)
            clock.cancelled.set()  # the client hangs up during retrieval
        entered.append("after retrieval")  # never reached: the stage's end stops the work

    with pytest.raises(RequestCancelled, match="retrieval"):
        _in_clock(clock, work)()
    assert entered == ["retrieval"]


def test_a_stream_yields_events_and_raises_the_generator_s_error():
    def events():
        yield "retrieval", ["p"]
        yield "answer", "hi"
        raise ValueError("broken stream")

    async def consume():
        seen = []
        with ThreadPoolExecutor(2) as pool:
            with pytest.raises(ValueError, match="broken stream"):
                async for event in DeadlineStream(pool, events, LIMITS):
                    seen.append(event)
        return seen

    assert asyncio.run(consume()) == [("retrieval", ["p"]), ("answer", "hi")]


def test_a_stalled_stream_times_out_and_its_generator_is_closed():
    closed = threading.Event()

    def events():
        try:
            yield "retrieval", []
            time.sleep(1)
            yield "answer", "too late"
            yield "answer", "never sent"
        finally:
            closed.set()

    async def consume():
        with ThreadPoolExecutor(2) as pool:
            with pytest.raises(StageTimeout):
                async for _ in DeadlineStream(pool, events, LIMITS):
                    pass

    asyncio.run(consume())
    assert closed.wait(30)


def test_a_quiet_stream_sends_keepalives_between_events():
    def events():
        yield "retrieval", []
        time.sleep(0.5)
        yield "answer", "late but within the deadline"

    async def consume():
        with ThreadPoolExecutor(2) as pool:
            return [kind async for kind, _ in DeadlineStream(pool, events, {"retrieval": 30}, keepalive_s=0.05)]

    kinds = asyncio.run(consume())
    assert kinds[0] == "retrieval" and kinds[-1] == "answer" and "keepalive" in kinds[1:-1]
