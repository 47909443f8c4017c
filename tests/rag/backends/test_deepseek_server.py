"""The loopback DeepSeek server is faithful to the wire format, as seen by the real openai SDK and by
raw HTTP (bytes, headers, chunked transfer)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.deepseek_server import (
    DeepSeekWireServer,
    Reply,
    deepseek_server,  # noqa: F401  (fixture)
    estimate_tokens,
)

KEY = "sk-test"
MODEL = "deepseek-v4-flash"
pytestmark = pytest.mark.timeout(30)


def client_for(server: DeepSeekWireServer, *, base_url: str | None = None, **kwargs) -> OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10)
    return OpenAI(base_url=base_url or server.base_url, api_key=kwargs.pop("api_key", KEY), **kwargs)


def ask(client: OpenAI, text: str = "What is 6*7?", **kwargs):
    return client.chat.completions.create(
        model=kwargs.pop("model", MODEL), messages=[{"role": "user", "content": text}], **kwargs
    )


def raw_post(server: DeepSeekWireServer, body: dict, key: str = KEY) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)


# -- models and paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/v1"])
def test_models_are_listed_on_both_prefixes(deepseek_server, suffix):
    client = client_for(deepseek_server, base_url=deepseek_server.base_url + suffix)
    assert [m.id for m in client.models.list()] == ["deepseek-v4-flash", "deepseek-v4-pro"]
    assert deepseek_server.requests[-1].path == f"{suffix}/models"
    assert deepseek_server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_v1_prefix_for_chat(deepseek_server):
    deepseek_server.script(Reply(content="ok"))
    answer = ask(client_for(deepseek_server, base_url=deepseek_server.base_url_v1))
    assert answer.choices[0].message.content == "ok"
    assert deepseek_server.chat_requests[-1].path == "/v1/chat/completions"


# -- non-streaming ---------------------------------------------------------------------------------


def test_non_streaming_reasoning_content_and_usage(deepseek_server):
    deepseek_server.script(Reply(
        reasoning="6 times 7 is 42.", content="42", prompt_tokens=100, prompt_cache_hit_tokens=64,
        completion_tokens=12, reasoning_tokens=9,
    ))
    answer = ask(client_for(deepseek_server))

    assert answer.object == "chat.completion"
    assert answer.model == MODEL
    assert answer.system_fingerprint
    choice = answer.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.message.role == "assistant"
    assert choice.message.content == "42"
    # Not part of the SDK's schema: reachable as an extra attribute and through model_extra.
    assert choice.message.reasoning_content == "6 times 7 is 42."
    assert choice.message.model_extra == {"reasoning_content": "6 times 7 is 42."}

    usage = answer.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 12, 112)
    assert usage.prompt_cache_hit_tokens == 64 and usage.prompt_cache_miss_tokens == 36
    assert usage.completion_tokens_details.reasoning_tokens == 9
    assert usage.prompt_tokens_details.cached_tokens == 64

    body = deepseek_server.last_body
    assert body["model"] == MODEL and body["messages"] == [{"role": "user", "content": "What is 6*7?"}]
    assert "thinking" not in body  # default: thinking on, the client sent nothing


def test_non_streaming_wire_shape_is_chunked_json(deepseek_server):
    deepseek_server.script(Reply(reasoning="r", content="c", keepalives=3))
    response = raw_post(deepseek_server, {"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert response.content.startswith(b"\n\n\n{")
    payload = json.loads(response.content)
    assert set(payload) == {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
    assert payload["choices"][0]["message"] == {"role": "assistant", "content": "c", "reasoning_content": "r"}
    usage = payload["usage"]
    assert usage["prompt_tokens"] == usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 1


def test_keepalive_blank_lines_before_json_do_not_break_the_sdk(deepseek_server):
    deepseek_server.script(Reply(reasoning="thinking", content="answer", keepalives=5,
                                 keepalive_interval=0.02))
    answer = ask(client_for(deepseek_server))
    assert answer.choices[0].message.content == "answer"
    assert answer.choices[0].message.reasoning_content == "thinking"


def test_raw_response_through_the_sdk_shows_the_blank_lines(deepseek_server):
    deepseek_server.script(Reply(content="a", keepalives=2))
    raw = client_for(deepseek_server).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "q"}])
    assert raw.http_response.content.startswith(b"\n\n{")
    assert raw.parse().choices[0].message.content == "a"


def test_thinking_disabled_and_effort_are_recorded(deepseek_server):
    client = client_for(deepseek_server)
    answer = ask(client, extra_body={"thinking": {"type": "disabled"}})
    message = answer.choices[0].message
    assert message.content == "Echo: What is 6*7?"
    assert getattr(message, "reasoning_content", None) is None
    assert "reasoning_content" not in (message.model_extra or {})  # omitted, like non-thinking answers
    assert answer.usage.completion_tokens_details.reasoning_tokens == 0

    ask(client, model="deepseek-v4-pro", extra_body={"thinking": {"type": "enabled"}, "reasoning_effort": "max"})
    ask(client, reasoning_effort="low")  # the SDK's own parameter reaches the body too
    first, second, third = deepseek_server.chat_bodies
    assert first["thinking"] == {"type": "disabled"} and "reasoning_effort" not in first
    assert second["thinking"] == {"type": "enabled"} and second["reasoning_effort"] == "max"
    assert second["model"] == "deepseek-v4-pro"
    assert third["reasoning_effort"] == "low"


def test_disabled_reasoning_can_be_sent_as_null():
    with DeepSeekWireServer(api_key=KEY, disabled_reasoning="null") as server:
        response = raw_post(server, {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                     "thinking": {"type": "disabled"}})
        assert response.json()["choices"][0]["message"]["reasoning_content"] is None


def test_default_echo_is_deterministic(deepseek_server):
    client = client_for(deepseek_server)
    a, b = ask(client, "hello"), ask(client, "hello")
    assert a.choices[0].message.content == b.choices[0].message.content == "Echo: hello"
    assert a.choices[0].message.reasoning_content == b.choices[0].message.reasoning_content
    assert a.choices[0].message.reasoning_content == "The user wrote: 'hello'. I will echo it back."


def test_callable_replies_and_responder(deepseek_server):
    deepseek_server.script(lambda body: Reply(content=body["messages"][-1]["content"].upper()))
    deepseek_server.responder = lambda body: Reply(content=f"{len(body['messages'])} messages")
    client = client_for(deepseek_server)
    assert ask(client, "shout").choices[0].message.content == "SHOUT"
    assert ask(client, "count").choices[0].message.content == "1 messages"
    assert deepseek_server.pending == 0


def test_script_is_fifo(deepseek_server):
    deepseek_server.script(Reply(content="one"), Reply(content="two"))
    client = client_for(deepseek_server)
    assert [ask(client).choices[0].message.content for _ in range(3)] == ["one", "two", "Echo: What is 6*7?"]


def test_unicode_goes_over_the_wire_unescaped(deepseek_server):
    deepseek_server.script(Reply(reasoning="思考…", content="答案 ✓"))
    response = raw_post(deepseek_server, {"model": MODEL, "messages": [{"role": "user", "content": "?"}]})
    assert "答案 ✓".encode() in response.content
    assert response.json()["choices"][0]["message"]["content"] == "答案 ✓"


def test_finish_reason_length(deepseek_server):
    deepseek_server.script(Reply(content="trunc", finish_reason="length"))
    assert ask(client_for(deepseek_server)).choices[0].finish_reason == "length"


# -- usage -----------------------------------------------------------------------------------------


def test_inconsistent_usage_is_refused_at_construction():
    with pytest.raises(ValueError, match="prompt_tokens"):
        Reply(prompt_tokens=10, prompt_cache_hit_tokens=3, prompt_cache_miss_tokens=5)
    with pytest.raises(ValueError, match="reasoning_tokens"):
        Reply(completion_tokens=3, reasoning_tokens=5)


def test_usage_is_estimated_when_not_scripted(deepseek_server):
    deepseek_server.script(Reply(reasoning="one two three", content="four five"),
                           Reply(prompt_cache_miss_tokens=7, content="x"))
    client = client_for(deepseek_server)
    usage = ask(client, "a b c").usage
    assert usage.completion_tokens_details.reasoning_tokens == 3
    assert usage.completion_tokens == 5
    assert usage.prompt_tokens == usage.prompt_cache_hit_tokens + usage.prompt_cache_miss_tokens > 0
    usage = ask(client, "a b c").usage
    assert usage.prompt_cache_miss_tokens == 7
    assert usage.prompt_tokens == usage.prompt_cache_hit_tokens + 7


def test_prefix_cache_is_simulated_in_whole_blocks():
    documents = " ".join(f"word{i}" for i in range(300))
    with DeepSeekWireServer(api_key=KEY, cache_block=64) as server:
        client = client_for(server)

        def question(q):
            return client.chat.completions.create(model=MODEL, messages=[
                {"role": "system", "content": "Answer from the sources."},
                {"role": "user", "content": f"Sources: {documents}\n\nQuestion: {q}"},
            ]).usage

        first = question("what is word7?")
        assert first.prompt_cache_hit_tokens == 0
        second = question("and word9?")
        assert second.prompt_cache_hit_tokens > 0 and second.prompt_cache_hit_tokens % 64 == 0
        assert second.prompt_cache_miss_tokens < 64 + estimate_tokens("Question: and word9?") + 1
        assert second.prompt_tokens == second.prompt_cache_hit_tokens + second.prompt_cache_miss_tokens

        # The question first and the documents after: nothing shared beyond the first block.
        reordered = client.chat.completions.create(model=MODEL, messages=[
            {"role": "user", "content": f"Question: what? Sources: {documents}"}]).usage
        assert reordered.prompt_cache_hit_tokens == 0


# -- streaming -------------------------------------------------------------------------------------


def test_streaming_reasoning_then_content_then_usage(deepseek_server):
    deepseek_server.script(Reply(
        reasoning="First, multiply six by seven.", content="The answer is 42.", keepalives=3,
        prompt_tokens=20, prompt_cache_hit_tokens=0, completion_tokens=15, reasoning_tokens=6,
    ))
    stream = client_for(deepseek_server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "6*7?"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1

    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content is None and first.reasoning_content == ""

    kinds, reasoning, content = [], [], []
    for chunk in chunks[1:]:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if getattr(delta, "reasoning_content", None):
            kinds.append("r")
            reasoning.append(delta.reasoning_content)
        if delta.content:
            kinds.append("c")
            content.append(delta.content)
    assert kinds == sorted(kinds, key=lambda k: k != "r")  # every reasoning delta before any content delta
    assert len(reasoning) > 1 and len(content) > 1
    assert "".join(reasoning) == "First, multiply six by seven."
    assert "".join(content) == "The answer is 42."

    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert finish[0].usage is None
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens == 35
    assert last.usage.completion_tokens_details.reasoning_tokens == 6
    assert last.usage.prompt_cache_miss_tokens == 20
    assert deepseek_server.last_body["stream"] is True
    assert deepseek_server.last_body["stream_options"] == {"include_usage": True}


def test_streaming_wire_bytes(deepseek_server):
    deepseek_server.script(Reply(reasoning=["Hm", "m."], content=["O", "K"], keepalives=2))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream("POST", f"{deepseek_server.base_url}/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        raw = response.read()
    assert raw.startswith(b": keep-alive\n\n: keep-alive\n\ndata: {")
    assert raw.endswith(b"data: [DONE]\n\n")
    events = [e for e in raw.split(b"\n\n") if e.startswith(b"data: {")]
    deltas = [json.loads(e[6:])["choices"][0]["delta"] for e in events]
    assert deltas == [
        {"role": "assistant", "content": None, "reasoning_content": ""},
        {"content": None, "reasoning_content": "Hm"},
        {"content": None, "reasoning_content": "m."},
        {"content": "O", "reasoning_content": None},
        {"content": "K", "reasoning_content": None},
        {"content": "", "reasoning_content": None},
    ]
    assert b'"usage"' not in raw  # no include_usage: no usage


def test_streaming_thinking_disabled_has_no_reasoning(deepseek_server):
    stream = client_for(deepseek_server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi there"}], stream=True,
        extra_body={"thinking": {"type": "disabled"}},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all("reasoning_content" not in (c.choices[0].delta.model_extra or {}) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: hi there"


def test_streaming_usage_on_final_chunk_variant():
    with DeepSeekWireServer(api_key=KEY, stream_usage="final") as server:
        chunks = list(client_for(server).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True,
            stream_options={"include_usage": True}))
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert chunks[-1].usage.total_tokens > 0


# -- tool calls ------------------------------------------------------------------------------------

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {
    "q": {"type": "string"}}}}}]


def test_tool_calls_non_streaming_and_streaming(deepseek_server):
    call = {"name": "lookup", "arguments": {"q": "capital of France"}, "id": "call_00_abc"}
    deepseek_server.script(Reply(reasoning="I should look it up.", tool_calls=[call]),
                           Reply(reasoning="Again.", tool_calls=[call]))
    client = client_for(deepseek_server)
    answer = ask(client, tools=TOOLS)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].id == "call_00_abc"
    assert choice.message.tool_calls[0].function.name == "lookup"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"q": "capital of France"}

    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "q"}], tools=TOOLS, stream=True))
    pieces = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert pieces[0].id == "call_00_abc" and pieces[0].function.name == "lookup"
    assert json.loads("".join(p.function.arguments or "" for p in pieces)) == {"q": "capital of France"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def _tool_turn(with_reasoning: bool) -> list[dict]:
    assistant = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    if with_reasoning:
        assistant["reasoning_content"] = "I need to look this up."
    return [{"role": "user", "content": "Capital of France?"}, assistant,
            {"role": "tool", "tool_call_id": "call_1", "content": "Paris"}]


def test_tool_call_turn_without_reasoning_is_a_400(deepseek_server):
    deepseek_server.script(Reply(content="scripted"))
    client = client_for(deepseek_server)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=_tool_turn(False), tools=TOOLS)
    assert info.value.status_code == 400
    assert "reasoning_content" in info.value.body["message"]
    assert info.value.body["type"] == "invalid_request_error"
    assert deepseek_server.pending == 1  # rejected requests do not consume the script

    answer = client.chat.completions.create(model=MODEL, messages=_tool_turn(True), tools=TOOLS)
    assert answer.choices[0].message.content == "scripted"
    # With thinking off there is no reasoning to send back: accepted.
    client.chat.completions.create(model=MODEL, messages=_tool_turn(False), tools=TOOLS,
                                   extra_body={"thinking": {"type": "disabled"}})
    assert [r.status for r in deepseek_server.chat_requests] == [400, 200, 200]


def test_tool_message_needs_a_preceding_tool_call(deepseek_server):
    messages = [{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    with pytest.raises(openai.BadRequestError):
        client_for(deepseek_server).chat.completions.create(model=MODEL, messages=messages)


def test_multi_turn_history_is_recorded_as_sent(deepseek_server):
    client = client_for(deepseek_server)
    first = ask(client, "first question").choices[0].message
    client.chat.completions.create(model=MODEL, messages=[
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "second question"},
    ])
    history = deepseek_server.last_body["messages"]
    assert history[1] == {"role": "assistant", "content": "Echo: first question"}
    assert all("reasoning_content" not in m for m in history)


# -- request validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["deepseek-chat", "deepseek-reasoner", "gpt-4o"])
def test_unknown_or_retired_model_is_a_400(deepseek_server, model):
    with pytest.raises(openai.BadRequestError) as info:
        ask(client_for(deepseek_server), model=model)
    assert info.value.body["message"] == "Model Not Exist"


@pytest.mark.parametrize("extra", [
    {"thinking": {"type": "auto"}}, {"thinking": "enabled"}, {"reasoning_effort": "medium"},
])
def test_invalid_thinking_parameters_are_422(deepseek_server, extra):
    with pytest.raises(openai.UnprocessableEntityError):
        ask(client_for(deepseek_server), extra_body=extra)


def test_malformed_bodies(deepseek_server):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    url = f"{deepseek_server.base_url}/chat/completions"
    bad_json = httpx.post(url, content=b"{not json", headers=headers)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    assert httpx.post(url, json={"model": MODEL}, headers=headers).status_code == 422
    assert httpx.post(url, json={"model": MODEL, "messages": []}, headers=headers).status_code == 400
    assert httpx.get(f"{deepseek_server.base_url}/nowhere", headers=headers).status_code == 404
    assert deepseek_server.requests[0].raw == b"{not json" and deepseek_server.requests[0].body is None


# -- errors ----------------------------------------------------------------------------------------


def test_wrong_key_is_a_401(deepseek_server):
    with pytest.raises(openai.AuthenticationError) as info:
        ask(client_for(deepseek_server, api_key="sk-wrong-key"))
    assert info.value.status_code == 401
    assert info.value.body["type"] == "authentication_error"
    assert "****-key" in info.value.body["message"]
    assert set(info.value.body) == {"message", "type", "param", "code"}
    with pytest.raises(openai.AuthenticationError):
        client_for(deepseek_server, api_key="sk-wrong-key").models.list()


@pytest.mark.parametrize(("status", "exception"), [
    (400, openai.BadRequestError),
    (401, openai.AuthenticationError),
    (422, openai.UnprocessableEntityError),
    (429, openai.RateLimitError),
    (500, openai.InternalServerError),
    (503, openai.InternalServerError),
])
def test_scripted_error_statuses_map_to_sdk_exceptions(deepseek_server, status, exception):
    deepseek_server.script(Reply(status=status, error_message=f"scripted {status}"))
    with pytest.raises(exception) as info:
        ask(client_for(deepseek_server))
    assert info.value.status_code == status
    assert info.value.body["message"] == f"scripted {status}"


def test_402_is_a_plain_api_status_error(deepseek_server):
    deepseek_server.script(Reply(status=402))
    with pytest.raises(openai.APIStatusError) as info:
        ask(client_for(deepseek_server))
    assert type(info.value) is openai.APIStatusError
    assert info.value.status_code == 402
    assert info.value.body == {"message": "Insufficient Balance", "type": "unknown_error", "param": None,
                               "code": "invalid_request_error"}


def test_429_carries_retry_after(deepseek_server):
    deepseek_server.script(Reply(status=429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as info:
        ask(client_for(deepseek_server))
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["message"] == "Rate Limit Reached"


def test_sdk_retries_after_a_429_and_succeeds(deepseek_server):
    deepseek_server.script(Reply(status=429, retry_after="0.05"), Reply(content="second time"))
    answer = ask(client_for(deepseek_server, max_retries=1))
    assert answer.choices[0].message.content == "second time"
    assert [r.status for r in deepseek_server.chat_requests] == [429, 200]
    assert deepseek_server.chat_requests[1].headers["x-stainless-retry-count"] == "1"


def test_non_json_error_page(deepseek_server):
    deepseek_server.script(Reply(status=502, raw_body=b"<html>Bad Gateway</html>"))
    with pytest.raises(openai.InternalServerError) as info:
        ask(client_for(deepseek_server))
    assert info.value.status_code == 502


def test_stream_request_error_is_raised_before_iteration(deepseek_server):
    deepseek_server.script(Reply(status=503))
    with pytest.raises(openai.InternalServerError):
        client_for(deepseek_server).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True)


# -- connection failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("reply", [
    Reply(drop=True), Reply(drop="reset"), Reply(drop=True, keepalives=2), Reply(drop=True, delay=0.05),
], ids=["close", "reset", "after-keepalives", "after-delay"])
def test_dropped_connection_is_an_api_connection_error(deepseek_server, reply):
    deepseek_server.script(reply)
    with pytest.raises(openai.APIConnectionError):
        ask(client_for(deepseek_server))
    assert deepseek_server.chat_requests[-1].status is None
    # The server keeps serving after a drop.
    assert ask(client_for(deepseek_server)).choices[0].message.content.startswith("Echo:")


def test_dropped_stream_before_anything_is_an_api_connection_error(deepseek_server):
    deepseek_server.script(Reply(drop=True))
    with pytest.raises(openai.APIConnectionError):
        client_for(deepseek_server).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True)


def test_stream_dropped_midway_raises_while_iterating(deepseek_server):
    deepseek_server.script(Reply(reasoning="a b c d", content="e f g", drop=True, drop_after_chunks=3,
                                 keepalives=1))
    stream = client_for(deepseek_server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
    received = []
    # The SDK does not wrap errors raised while a stream is read: they surface as httpx errors.
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3


def test_delay_longer_than_the_client_timeout(deepseek_server):
    deepseek_server.script(Reply(delay=2, content="late"))
    with pytest.raises(openai.APITimeoutError):
        ask(client_for(deepseek_server, timeout=0.3))


def test_server_stops_promptly_with_a_delayed_reply_in_flight():
    import threading
    import time

    server = DeepSeekWireServer(api_key=KEY).start()
    server.script(Reply(delay=20))
    caught = []

    def call():
        try:
            ask(client_for(server))
        except Exception as exc:  # noqa: BLE001
            caught.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()
    worker.join(5)
    assert time.monotonic() - started < 3
    assert caught and isinstance(caught[0], openai.APIConnectionError)


def test_responder_bug_is_a_500_and_recorded(deepseek_server):
    deepseek_server.script(lambda body: 1 / 0)
    with pytest.raises(openai.InternalServerError):
        ask(client_for(deepseek_server))
    assert isinstance(deepseek_server.errors[0], ZeroDivisionError)


def test_async_client_streams_and_parses(deepseek_server):
    import asyncio

    deepseek_server.script(Reply(reasoning="think", content="done", keepalives=2),
                           Reply(content="plain", keepalives=2))

    async def run():
        client = openai.AsyncOpenAI(base_url=deepseek_server.base_url, api_key=KEY, max_retries=0)
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
        parts = [c.choices[0].delta async for c in stream if c.choices]
        answer = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "y"}])
        await client.close()
        return parts, answer

    parts, answer = asyncio.run(run())
    assert "".join(getattr(p, "reasoning_content", None) or "" for p in parts) == "think"
    assert "".join(p.content or "" for p in parts) == "done"
    assert answer.choices[0].message.content == "plain"
