"""OpenAICompatBackend against the loopback DeepSeek wire server: reasoning, usage, streaming, retries,
errors that say what to fix, DeepSeek's request fields, multi-turn history and fallback."""

from __future__ import annotations

import dataclasses
import email.utils
import random
import time

import pytest

from rag.backends import (
    ModelAuthError,
    ModelBillingError,
    ModelConfigError,
    ModelError,
    ModelRequestError,
    ModelUnavailableError,
    OpenAICompatBackend,
    RetryPolicy,
    backend_for,
    generate_with_fallback,
    prepare_history,
    stream_with_fallback,
)
from rag.backends.openai_compat import parse_retry_after
from rag.profiles import ModelProfile
from rag.settings import Settings
from rag.types import Generation, Usage
from tests.support.deepseek_server import (
    DeepSeekWireServer,
    Reply,
    deepseek_server,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.timeout(60)

KEY_ENV = "VERIRAG_TEST_DEEPSEEK_KEY"
QUESTION = [{"role": "user", "content": "What is 6*7?"}]


class Sleeps(list):
    """The injected sleep: records every wait, waits for none."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class UpperRng:
    """A 'random' source that always picks the top of the jitter range: backoff at its bound."""

    def uniform(self, low: float, high: float) -> float:
        return high


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def backend(sleeps) -> OpenAICompatBackend:
    return OpenAICompatBackend(sleep=sleeps, rng=random.Random(7))


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")


def make_profile(server: DeepSeekWireServer, **overrides) -> ModelProfile:
    fields = dict(
        name="ds-flash", provider="deepseek", model="deepseek-v4-flash", context_window=1_000_000,
        max_output_tokens=256, reasoning_style="native", base_url=server.base_url, api_key_env=KEY_ENV,
        timeout_s=5.0, max_retries=3,
    )
    fields.update(overrides)
    return ModelProfile(**fields)


def statuses(server: DeepSeekWireServer) -> list[int | None]:
    return [r.status for r in server.chat_requests]


# -- answers, reasoning and usage --------------------------------------------------------------------


def test_generate_splits_reasoning_from_answer_and_reads_usage(deepseek_server, backend):
    deepseek_server.script(Reply(reasoning="6 times 7 is 42.", content="42", prompt_tokens=100,
                                 prompt_cache_hit_tokens=64, completion_tokens=12, reasoning_tokens=9))
    result = backend.generate(make_profile(deepseek_server), QUESTION)

    assert result == Generation(
        reasoning="6 times 7 is 42.", answer="42", finish_reason="stop", model="ds-flash",
        usage=Usage(prompt_tokens=100, completion_tokens=12, reasoning_tokens=9, cache_hit_tokens=64,
                    cache_miss_tokens=36),
    )
    body = deepseek_server.last_body
    assert body["model"] == "deepseek-v4-flash" and body["messages"] == QUESTION
    assert body["max_tokens"] == 256
    assert "temperature" not in body  # thinking is on by default: DeepSeek ignores it, so it is not sent
    assert "thinking" not in body and "stream" not in body
    assert deepseek_server.chat_requests[0].headers["authorization"] == "Bearer sk-test"


def test_max_tokens_argument_overrides_the_profile(deepseek_server, backend):
    backend.generate(make_profile(deepseek_server), QUESTION, max_tokens=17)
    assert deepseek_server.last_body["max_tokens"] == 17


def test_repeated_prefix_is_reported_as_cache_hits(deepseek_server, backend):
    documents = " ".join(f"[S{i}] Paris is the capital of France, fact number {i}." for i in range(20))
    messages = [{"role": "system", "content": f"Answer from the sources.\n{documents}"},
                {"role": "user", "content": "What is the capital of France?"}]
    first = backend.generate(make_profile(deepseek_server), messages)
    follow_up = messages + [{"role": "assistant", "content": first.answer},
                            {"role": "user", "content": "And of Italy?"}]
    second = backend.generate(make_profile(deepseek_server), follow_up)

    assert first.usage.cache_hit_tokens == 0 and first.usage.cache_miss_tokens == first.usage.prompt_tokens
    assert second.usage.cache_hit_tokens >= 64  # whole 64-token blocks of the shared prefix
    assert second.usage.cache_hit_tokens + second.usage.cache_miss_tokens == second.usage.prompt_tokens


def test_keepalive_blank_lines_before_the_json_answer(deepseek_server, backend):
    deepseek_server.script(Reply(reasoning="r", content="late answer", keepalives=4, keepalive_interval=0.02))
    result = backend.generate(make_profile(deepseek_server), QUESTION)
    assert (result.reasoning, result.answer) == ("r", "late answer")


def test_r1_style_server_with_think_tags(backend):
    """An OpenAI-compatible server that leaves R1's <think> in the content (no key needed)."""
    with DeepSeekWireServer(api_key=None) as server:
        server.script(Reply(content="<think>Check the sources.</think>Paris [S1]."))
        profile = make_profile(server, name="r1-local", provider="openai_compatible", api_key_env=None,
                               reasoning_style="think_tags", temperature=0.6)
        result = backend.generate(profile, QUESTION)
        assert (result.reasoning, result.answer) == ("Check the sources.", "Paris [S1].")
        body = server.last_body
        assert body["temperature"] == 0.6 and "thinking" not in body
        assert server.chat_requests[0].headers["authorization"] == "Bearer sk-no-key-required"


# -- streaming ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream_usage", ["separate", "final"])
def test_stream_reasoning_then_answer_then_done_with_usage(backend, stream_usage):
    with DeepSeekWireServer(api_key="sk-test", stream_usage=stream_usage) as server:
        server.script(Reply(reasoning=["Six ", "times ", "seven ", "is 42."], content=["The ", "answer ", "is 42."],
                            keepalives=2, keepalive_interval=0.02, prompt_tokens=50, prompt_cache_hit_tokens=0,
                            completion_tokens=9, reasoning_tokens=6))
        events = list(backend.stream(make_profile(server), QUESTION))
        body = server.last_body

    kinds = [kind for kind, _ in events]
    assert kinds == ["reasoning"] * 4 + ["answer"] * 3 + ["done"]
    assert "".join(text for kind, text in events if kind == "reasoning") == "Six times seven is 42."
    assert "".join(text for kind, text in events if kind == "answer") == "The answer is 42."
    done = events[-1][1]
    assert done == Generation(
        reasoning="Six times seven is 42.", answer="The answer is 42.", finish_reason="stop", model="ds-flash",
        usage=Usage(prompt_tokens=50, completion_tokens=9, reasoning_tokens=6, cache_hit_tokens=0,
                    cache_miss_tokens=50),
    )
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_with_thinking_off_has_only_answer_events(deepseek_server, backend):
    deepseek_server.script(Reply(reasoning="never sent", content="just the answer"))
    events = list(backend.stream(make_profile(deepseek_server, thinking=False), QUESTION))
    assert {kind for kind, _ in events} == {"answer", "done"}
    assert events[-1][1].reasoning == "" and events[-1][1].answer == "just the answer"


def test_stream_generation_agrees_with_generate(deepseek_server, backend):
    reply = dict(reasoning="Because the source says so.", content="Paris is the capital [S1].")
    deepseek_server.script(Reply(**reply), Reply(**reply))
    profile = make_profile(deepseek_server)
    whole = backend.generate(profile, QUESTION)
    streamed = list(backend.stream(profile, QUESTION))[-1][1]
    assert (streamed.reasoning, streamed.answer, streamed.finish_reason) == (
        whole.reasoning, whole.answer, whole.finish_reason)


# -- retries -----------------------------------------------------------------------------------------


def test_429_is_retried_after_at_least_retry_after(deepseek_server, backend, sleeps):
    deepseek_server.script(Reply(status=429, retry_after=3), Reply(content="second time"))
    result = backend.generate(make_profile(deepseek_server), QUESTION)
    assert result.answer == "second time"
    assert statuses(deepseek_server) == [429, 200]
    assert len(sleeps) == 1 and sleeps[0] >= 3


def test_retry_after_as_http_date(deepseek_server, backend, sleeps):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    deepseek_server.script(Reply(status=429, retry_after=when), Reply(content="ok"))
    assert backend.generate(make_profile(deepseek_server), QUESTION).answer == "ok"
    assert 3 <= sleeps[0] <= 6


@pytest.mark.parametrize("reply", [
    Reply(status=500), Reply(status=503), Reply(status=502, raw_body=b"<html>Bad Gateway</html>"),
    Reply(drop=True), Reply(drop="reset"), Reply(drop=True, keepalives=2),
], ids=["500", "503", "502-html", "dropped", "reset", "dropped-after-keepalives"])
def test_transient_failures_are_retried_then_succeed(deepseek_server, backend, sleeps, reply):
    deepseek_server.script(reply, Reply(reasoning="r", content="recovered"))
    result = backend.generate(make_profile(deepseek_server), QUESTION)
    assert result.answer == "recovered"
    assert len(deepseek_server.chat_requests) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5  # first retry: full jitter in [0, base]


def test_timeout_is_retried(deepseek_server, backend, sleeps):
    deepseek_server.script(Reply(delay=1.5, content="too late"), Reply(content="in time"))
    result = backend.generate(make_profile(deepseek_server, timeout_s=0.3), QUESTION)
    assert result.answer == "in time" and len(sleeps) == 1


def test_backoff_is_exponential_with_full_jitter_and_capped(deepseek_server, sleeps):
    backend = OpenAICompatBackend(sleep=sleeps, rng=UpperRng(), retry=RetryPolicy(base_s=0.5, cap_s=1.5, max_retry_after_s=60.0))
    deepseek_server.script(*[Reply(status=503)] * 4, Reply(content="finally"))
    result = backend.generate(make_profile(deepseek_server, max_retries=4), QUESTION)
    assert result.answer == "finally"
    assert sleeps == [0.5, 1.0, 1.5, 1.5]  # the jitter range's top: base * 2**n, capped


def test_retries_exhausted_raise_model_unavailable(deepseek_server, backend, sleeps):
    deepseek_server.script(*[Reply(status=503, retry_after=1)] * 3)
    with pytest.raises(ModelUnavailableError) as info:
        backend.generate(make_profile(deepseek_server, max_retries=2), QUESTION)
    error = info.value
    assert statuses(deepseek_server) == [503, 503, 503]
    assert len(sleeps) == 2 and all(s >= 1 for s in sleeps)
    assert error.retry_after == 1 and error.attempts == 3 and error.status == 503
    assert "ds-flash" in str(error) and deepseek_server.base_url in str(error)
    assert "fallback" in str(error)


def test_retry_after_longer_than_the_limit_gives_up_at_once(deepseek_server, backend, sleeps):
    deepseek_server.script(Reply(status=429, retry_after=600), Reply(content="not reached"))
    with pytest.raises(ModelUnavailableError) as info:
        backend.generate(make_profile(deepseek_server), QUESTION)
    assert info.value.retry_after == 600 and "600" in str(info.value)
    assert sleeps == [] and len(deepseek_server.chat_requests) == 1


def test_connection_refused_is_unavailable(backend, sleeps):
    server = DeepSeekWireServer()  # never started: its port refuses connections once closed
    base_url = server.base_url
    server.stop()
    profile = ModelProfile(name="gone", provider="deepseek", model="deepseek-v4-flash", context_window=1000,
                           max_output_tokens=10, reasoning_style="native", base_url=base_url,
                           api_key_env=KEY_ENV, max_retries=1, timeout_s=2)
    with pytest.raises(ModelUnavailableError, match="connection failed") as info:
        backend.generate(profile, QUESTION)
    assert base_url in str(info.value) and len(sleeps) == 1


@pytest.mark.parametrize("reply", [Reply(status=503), Reply(drop=True),
                                   Reply(drop=True, keepalives=1, drop_after_chunks=0),
                                   Reply(reasoning="a b", content="c", drop=True, drop_after_chunks=1)],
                         ids=["503", "dropped", "dropped-after-keepalive", "dropped-after-role-chunk"])
def test_stream_is_retried_while_nothing_was_emitted(deepseek_server, backend, sleeps, reply):
    deepseek_server.script(reply, Reply(reasoning="think", content="streamed answer"))
    events = list(backend.stream(make_profile(deepseek_server), QUESTION))
    assert events[-1][1].answer == "streamed answer" and events[-1][1].reasoning == "think"
    assert [k for k, _ in events] == ["reasoning", "answer", "answer", "done"]
    assert len(deepseek_server.chat_requests) == 2 and len(sleeps) == 1


def test_stream_broken_after_output_is_not_retried(deepseek_server, backend, sleeps):
    deepseek_server.script(Reply(reasoning="a b c d", content="e f", drop=True, drop_after_chunks=3),
                           Reply(content="must not be used"))
    received = []
    with pytest.raises(ModelUnavailableError, match="stream broke after part of the answer") as info:
        for event in backend.stream(make_profile(deepseek_server), QUESTION):
            received.append(event)
    assert [k for k, _ in received] == ["reasoning", "reasoning"]
    assert len(deepseek_server.chat_requests) == 1 and sleeps == []
    assert "ds-flash" in str(info.value)


# -- errors that are not retried ---------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error_class", "fragments"), [
    (400, ModelRequestError, ["400", "rejected the request"]),
    (401, ModelAuthError, [KEY_ENV, "valid key"]),
    (402, ModelBillingError, ["insufficient balance; top up", "platform.deepseek.com"]),
    (422, ModelRequestError, ["422"]),
])
def test_client_errors_are_not_retried(deepseek_server, backend, sleeps, status, error_class, fragments):
    deepseek_server.script(Reply(status=status), Reply(content="must not be used"))
    with pytest.raises(error_class) as info:
        backend.generate(make_profile(deepseek_server), QUESTION)
    message = str(info.value)
    assert len(deepseek_server.chat_requests) == 1 and sleeps == []
    assert info.value.status == status and info.value.profile == "ds-flash"
    assert "'ds-flash'" in message and deepseek_server.base_url in message
    for fragment in fragments:
        assert fragment in message
    assert not isinstance(info.value, ModelUnavailableError)


def test_other_server_errors_are_unavailable_without_retry(deepseek_server, backend, sleeps):
    deepseek_server.script(Reply(status=501), Reply(content="must not be used"))
    with pytest.raises(ModelUnavailableError, match="501.*not retried") as info:
        backend.generate(make_profile(deepseek_server), QUESTION)
    assert info.value.status == 501 and sleeps == [] and len(deepseek_server.chat_requests) == 1


def test_wrong_key_names_the_environment_variable(deepseek_server, backend, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key")
    with pytest.raises(ModelAuthError, match=f"set {KEY_ENV} to a valid key"):
        backend.generate(make_profile(deepseek_server), QUESTION)


def test_missing_key_fails_before_any_request(deepseek_server, backend, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ModelAuthError, match=f"environment variable {KEY_ENV} is not set"):
        backend.generate(make_profile(deepseek_server), QUESTION)
    with pytest.raises(ModelAuthError):
        backend.stream(make_profile(deepseek_server), QUESTION)  # at the call, not at the first next()
    assert deepseek_server.requests == []


def test_deepseek_key_env_defaults_to_deepseek_api_key(deepseek_server, backend, monkeypatch):
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.raises(ModelAuthError, match="DEEPSEEK_API_KEY"):
        backend.generate(make_profile(deepseek_server, api_key_env=None), QUESTION)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
    assert backend.generate(make_profile(deepseek_server, api_key_env=None), QUESTION).answer


@pytest.mark.parametrize("model", ["deepseek-chat", "deepseek-reasoner"])
def test_unknown_model_names_the_model_and_the_fix(deepseek_server, backend, model):
    with pytest.raises(ModelRequestError) as info:
        backend.generate(make_profile(deepseek_server, model=model), QUESTION)
    assert info.value.param == "model"
    message = str(info.value)
    assert repr(model) in message and "deepseek-v4-flash" in message and "/models" in message


def test_invalid_reasoning_effort_names_the_parameter(deepseek_server, backend, sleeps):
    with pytest.raises(ModelRequestError) as info:
        backend.generate(make_profile(deepseek_server, reasoning_effort="medium"), QUESTION)
    assert info.value.status == 422 and info.value.param == "reasoning_effort"
    assert "reasoning_effort = 'medium'" in str(info.value) and "low, high or max" in str(info.value)
    assert sleeps == []


def test_wrong_path_404_suggests_checking_base_url(deepseek_server, backend):
    profile = make_profile(deepseek_server, base_url=deepseek_server.base_url + "/api")
    with pytest.raises(ModelRequestError, match="check base_url"):
        backend.generate(profile, QUESTION)


def test_openai_compatible_profile_without_base_url_is_a_config_error(backend):
    profile = ModelProfile(name="vllm", provider="openai_compatible", model="m", context_window=4096,
                           max_output_tokens=100, reasoning_style="none")
    with pytest.raises(ModelConfigError, match=r"no base_url.*\[profiles\.vllm\]"):
        backend.generate(profile, QUESTION)


# -- DeepSeek request fields -------------------------------------------------------------------------


@pytest.mark.parametrize(("thinking", "effort", "expected_thinking", "sends_temperature"), [
    (True, "high", {"type": "enabled"}, False),
    (True, "max", {"type": "enabled"}, False),
    (False, None, {"type": "disabled"}, True),
    (None, "low", None, False),
])
def test_thinking_and_reasoning_effort_reach_the_server(deepseek_server, backend, thinking, effort,
                                                        expected_thinking, sends_temperature):
    deepseek_server.script(Reply(reasoning="thought", content="answer"))
    profile = make_profile(deepseek_server, thinking=thinking, reasoning_effort=effort, temperature=0.3)
    result = backend.generate(profile, QUESTION)
    body = deepseek_server.last_body
    assert body.get("thinking") == expected_thinking
    assert body.get("reasoning_effort") == effort
    assert ("temperature" in body) is sends_temperature
    if sends_temperature:
        assert body["temperature"] == 0.3
    assert result.reasoning == ("" if thinking is False else "thought")


def test_extra_body_and_stream_usage_switch_from_profile_extra(deepseek_server, backend):
    profile = make_profile(deepseek_server, extra={"extra_body": {"user_tag": "verirag"}, "stream_usage": False})
    events = list(backend.stream(profile, QUESTION))
    assert deepseek_server.last_body["user_tag"] == "verirag"
    assert "stream_options" not in deepseek_server.last_body
    # The server was not asked for usage: completion tokens are the text deltas, the prompt is unknown.
    deltas = [e for e in events if e[0] != "done"]
    assert events[-1][1].usage == Usage(prompt_tokens=0, completion_tokens=len(deltas))


# -- multi-turn history ------------------------------------------------------------------------------


TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def test_earlier_reasoning_is_never_sent_back(deepseek_server, backend):
    history = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer", "reasoning_content": "private thoughts"},
        {"role": "user", "content": "second question"},
    ]
    backend.generate(make_profile(deepseek_server), history)
    sent = deepseek_server.last_body["messages"]
    assert sent[1] == {"role": "assistant", "content": "first answer"}
    assert all("reasoning_content" not in m for m in sent)
    assert history[1]["reasoning_content"] == "private thoughts"  # the caller's list is untouched


def test_deepseek_tool_call_turn_keeps_its_reasoning(deepseek_server, backend):
    history = [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "", "reasoning_content": "I need to look this up.",
         "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Paris"},
        {"role": "assistant", "content": "Paris.", "reasoning_content": "The tool said Paris."},
        {"role": "user", "content": "Sure?"},
    ]
    result = backend.generate(make_profile(deepseek_server), history)  # V4 answers 400 without it
    assert result.answer.startswith("Echo:")
    sent = deepseek_server.last_body["messages"]
    assert sent[1]["reasoning_content"] == "I need to look this up."
    assert "reasoning_content" not in sent[3]


def test_tool_call_reasoning_is_stripped_for_other_providers():
    turn = {"role": "assistant", "content": "", "reasoning_content": "r", "reasoning": "r", "tool_calls": [TOOL_CALL]}
    other = ModelProfile(name="vllm", provider="openai_compatible", model="m", context_window=4096,
                         max_output_tokens=10, reasoning_style="native")
    deepseek = dataclasses.replace(other, provider="deepseek")
    assert "reasoning_content" not in prepare_history([turn], other)[0]
    kept = prepare_history([turn], deepseek)[0]
    assert kept["reasoning_content"] == "r" and "reasoning" not in kept


# -- fallback ----------------------------------------------------------------------------------------


def _resolver(*profiles: ModelProfile):
    by_name = {p.name: p for p in profiles}
    return by_name.__getitem__


def test_fallback_answers_when_retries_are_exhausted(deepseek_server, backend, sleeps):
    primary = make_profile(deepseek_server, max_retries=1, fallback="ds-pro")
    secondary = make_profile(deepseek_server, name="ds-pro", model="deepseek-v4-pro")
    deepseek_server.script(Reply(status=503), Reply(status=503), Reply(content="from the fallback"))
    result = generate_with_fallback("ds-flash", _resolver(primary, secondary), lambda p: backend, QUESTION)
    assert result.model == "ds-pro" and result.answer == "from the fallback"
    assert [b["model"] for b in deepseek_server.chat_bodies] == ["deepseek-v4-flash"] * 2 + ["deepseek-v4-pro"]


def test_fallback_is_not_used_for_errors_the_user_must_fix(deepseek_server, backend):
    primary = make_profile(deepseek_server, fallback="ds-pro")
    secondary = make_profile(deepseek_server, name="ds-pro", model="deepseek-v4-pro")
    deepseek_server.script(Reply(status=402))
    with pytest.raises(ModelBillingError):
        generate_with_fallback("ds-flash", _resolver(primary, secondary), lambda p: backend, QUESTION)
    assert len(deepseek_server.chat_requests) == 1


def test_fallback_loop_is_stopped(deepseek_server, backend):
    a = make_profile(deepseek_server, name="a", max_retries=0, fallback="b")
    b = make_profile(deepseek_server, name="b", max_retries=0, fallback="a")
    deepseek_server.script(Reply(status=503, retry_after=2), Reply(status=429, retry_after=1), Reply(content="no"))
    with pytest.raises(ModelUnavailableError) as info:
        generate_with_fallback("a", _resolver(a, b), lambda p: backend, QUESTION)
    assert "a → b → a loops" in str(info.value)
    assert info.value.retry_after == 1 and info.value.attempts == 2
    assert len(deepseek_server.chat_requests) == 2  # each profile tried once


def test_without_fallback_the_backend_error_is_raised_as_is(deepseek_server, backend):
    deepseek_server.script(Reply(status=500))
    with pytest.raises(ModelUnavailableError, match="unavailable after 1 attempt"):
        generate_with_fallback("ds-flash", _resolver(make_profile(deepseek_server, max_retries=0)),
                               lambda p: backend, QUESTION)


def test_unresolvable_fallback_is_a_config_error(deepseek_server, backend):
    deepseek_server.script(Reply(status=503))
    primary = make_profile(deepseek_server, max_retries=0, fallback="nope")
    with pytest.raises(ModelConfigError, match="fallback 'nope'"):
        generate_with_fallback("ds-flash", _resolver(primary), lambda p: backend, QUESTION)


def test_stream_with_fallback(deepseek_server, backend):
    primary = make_profile(deepseek_server, max_retries=0, fallback="ds-pro")
    secondary = make_profile(deepseek_server, name="ds-pro", model="deepseek-v4-pro")
    deepseek_server.script(Reply(status=503), Reply(reasoning="r", content="streamed by the fallback"))
    events = list(stream_with_fallback("ds-flash", _resolver(primary, secondary), lambda p: backend, QUESTION))
    assert events[-1][0] == "done" and events[-1][1].model == "ds-pro"
    assert events[-1][1].answer == "streamed by the fallback"


# -- registry and helpers ----------------------------------------------------------------------------


def test_registry_picks_the_backend_by_provider(deepseek_server):
    from rag.backends.local import LocalBackend

    settings = Settings(llama_base_url="http://127.0.0.1:9/v1", llm_retry_base_s=0.1, llm_retry_cap_s=2.0,
                        llm_threads=1)  # llm_retry_after_max_s: the default
    ds = make_profile(deepseek_server)
    compat = dataclasses.replace(ds, provider="openai_compatible", base_url=None)
    local = dataclasses.replace(ds, provider="local", model="/nowhere.gguf")
    first = backend_for(ds, settings)
    assert isinstance(first, OpenAICompatBackend) and backend_for(compat, settings) is first
    assert first.retry == RetryPolicy(base_s=0.1, cap_s=2.0, max_retry_after_s=60.0)
    assert first.base_url_for(compat) == "http://127.0.0.1:9/v1"
    assert first.base_url_for(dataclasses.replace(ds, base_url=None)) == "https://api.deepseek.com"
    local_backend = backend_for(local, settings)
    assert isinstance(local_backend, LocalBackend) and local_backend.n_threads == 1
    with pytest.raises(ModelConfigError, match="no GGUF model at '/nowhere.gguf'"):
        local_backend.generate(local, QUESTION)
    with pytest.raises(ModelConfigError, match="unknown provider"):
        backend_for(dataclasses.replace(ds, provider="bedrock"), settings)
    assert isinstance(backend_for(ds), OpenAICompatBackend)  # no settings: defaults


def test_parse_retry_after():
    assert parse_retry_after({"retry-after": "7"}) == 7
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_every_model_error_is_a_model_error():
    for cls in (ModelAuthError, ModelBillingError, ModelConfigError, ModelRequestError, ModelUnavailableError):
        assert issubclass(cls, ModelError)
