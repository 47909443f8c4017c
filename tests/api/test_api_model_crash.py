"""A crash of the in-process model (its llama.cpp worker dies of SIGSEGV mid-request) costs that request a
503 naming the profile and the signal; the server keeps serving retrieval and the next answer works."""

from __future__ import annotations

import pytest

from rag.settings import Settings
from tests.api.helpers import COLLECTION, QUESTION, sse_json

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def client(client_for, fresh_data_dir):
    settings = Settings(
        data_dir=fresh_data_dir(),
        default_collection=COLLECTION,
        default_model="local",
        llm_threads=1,
        verify_judge="off",
        # The packaged model and the same worker as "local"; its worker sends itself SIGSEGV before
        # generating, as a crash inside ggml would.
        profiles={"crashy": {"extends": "local", "extra": {"test_crash_signal": "SIGSEGV"}},
                  # room for the grammar's one reasoning sentence (≤160 characters) and the start of the answer
                  "local": {"max_output_tokens": 96}},
    )
    return client_for(settings=settings)


def test_a_model_crash_is_a_503_and_the_server_keeps_serving(client):
    crashed = client.post("/v1/query", json={"question": QUESTION, "model": "crashy", "top_k": 2})
    assert crashed.status_code == 503
    error = crashed.json()["error"]
    assert error["type"] == "model_crashed"
    assert "'crashy'" in error["message"] and "SIGSEGV" in error["message"]
    assert crashed.headers["Retry-After"] == "1"

    retrieved = client.post("/v1/retrieve", json={"question": QUESTION, "top_k": 2})
    assert retrieved.status_code == 200 and retrieved.json()["passages"]

    # The next question starts a new worker and is answered.
    answered = client.post("/v1/query", json={"question": QUESTION, "model": "local", "top_k": 2})
    assert answered.status_code == 200, answered.text
    assert answered.json()["model"] == "local" and answered.json()["answer"].strip()


def test_a_model_crash_mid_stream_ends_the_stream_with_a_503_event(client):
    response = client.post("/v1/query", json={"question": QUESTION, "model": "crashy", "top_k": 2, "stream": True})
    assert response.status_code == 200  # the stream had started: the failure is its last event
    events = sse_json(response.text)
    assert events[0][0] == "retrieval"
    name, data = events[-1]
    assert name == "error" and data["status"] == 503
    assert data["error"]["type"] == "model_crashed" and "SIGSEGV" in data["error"]["message"]
    assert client.post("/v1/retrieve", json={"question": QUESTION}).status_code == 200
