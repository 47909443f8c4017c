"""Turns that call tools, through the real ``openai`` SDK against DeepSeek's wire format on loopback:
the request's ``tools`` / ``tool_choice``, parallel calls read back whole and rebuilt from streamed
pieces, the turn going back into the history as V4's thinking mode requires, and the server's checks."""

from __future__ import annotations

import json

import openai
import pytest

from rag.backends.openai_compat import OpenAICompatBackend
from rag.backends.tool_turns import ToolCall, ToolCallAccumulator
from rag.multistep.tool_loop import SEARCH_TOOL
from rag.profiles import ModelProfile
from tests.support.deepseek_server import DeepSeekWireServer, Reply, deepseek_server  # noqa: F401 (fixture)

KEY_ENV = "VERIRAG_TEST_DEEPSEEK_KEY"
QUESTION = [{"role": "user", "content": "Which magazine was started first, Arthur's Magazine or First for Women?"}]
PARALLEL = [{"name": "search", "arguments": {"query": "Arthur's Magazine founded"}},
            {"name": "search", "arguments": {"query": "First for Women founded"}}]


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")


def make_profile(server: DeepSeekWireServer, **overrides) -> ModelProfile:
    fields = {"name": "ds-flash", "provider": "deepseek", "model": "deepseek-v4-flash", "context_window": 1_000_000,
              "max_output_tokens": 256, "reasoning_style": "native", "base_url": server.base_url,
              "api_key_env": KEY_ENV, "timeout_s": 5.0, "max_retries": 0, "tools": True}
    fields.update(overrides)
    return ModelProfile(**fields)


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_calls_come_back_whole(deepseek_server, stream):  # noqa: F811
    deepseek_server.script(Reply(reasoning="Two lookups, one per magazine.", tool_calls=PARALLEL))
    backend = OpenAICompatBackend()
    profile = make_profile(deepseek_server)
    if stream:
        events = list(backend.stream_turn(profile, QUESTION, [SEARCH_TOOL]))
        assert "".join(t for kind, t in events if kind == "reasoning") == "Two lookups, one per magazine."
        turn = events[-1][1]
    else:
        turn = backend.generate_turn(profile, QUESTION, [SEARCH_TOOL])

    body = deepseek_server.last_body
    assert body["tools"] == [SEARCH_TOOL] and body["tool_choice"] == "auto"
    assert turn.generation.finish_reason == "tool_calls" and turn.generation.answer == ""
    assert [c.name for c in turn.tool_calls] == ["search", "search"]
    assert [json.loads(c.arguments) for c in turn.tool_calls] == [c["arguments"] for c in PARALLEL]
    assert len({c.id for c in turn.tool_calls}) == 2
    # Sent back with its reasoning and a tool message per call, the turn is accepted in thinking mode.
    history = [*QUESTION, turn.assistant_message(),
               *({"role": "tool", "tool_call_id": c.id, "content": "[S2] …"} for c in turn.tool_calls)]
    deepseek_server.script(Reply(reasoning="Arthur's Magazine: 1844.", content="Arthur's Magazine [S1]."))
    answer = backend.generate_turn(profile, history, [SEARCH_TOOL], tool_choice="none")
    assert answer.tool_calls == () and answer.generation.answer == "Arthur's Magazine [S1]."
    sent = deepseek_server.last_body["messages"][1]
    assert sent["reasoning_content"] == "Two lookups, one per magazine." and len(sent["tool_calls"]) == 2
    assert deepseek_server.last_body["tool_choice"] == "none"


def test_a_tool_call_turn_without_its_reasoning_is_refused_in_thinking_mode(deepseek_server):  # noqa: F811
    backend = OpenAICompatBackend()
    profile = make_profile(deepseek_server)
    call = ToolCall("call_1", "search", '{"query": "x"}')
    history = [*QUESTION, {"role": "assistant", "content": "", "tool_calls": [call.wire()]},
               {"role": "tool", "tool_call_id": "call_1", "content": "nothing"}]
    with pytest.raises(Exception, match="reasoning_content"):
        backend.generate_turn(profile, history, [SEARCH_TOOL])
    assert deepseek_server.chat_requests[-1].status == 400


def test_the_accumulator_joins_argument_pieces_by_index():
    acc = ToolCallAccumulator()
    acc.feed({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "search", "arguments": ""}}]})
    acc.feed({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "search", "arguments": '{"qu'}}]})
    acc.feed({"tool_calls": [{"index": 0, "function": {"arguments": '{"query": "x"}'}}]})
    acc.feed({"tool_calls": [{"index": 1, "function": {"arguments": 'ery": "y"}'}}]})
    assert acc.calls() == (ToolCall("a", "search", '{"query": "x"}'), ToolCall("b", "search", '{"query": "y"}'))


# -- the server's own checks (DeepSeek's documented request rules) -----------------------------------------


def _client(server: DeepSeekWireServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def test_every_tool_call_needs_its_tool_message(deepseek_server):  # noqa: F811
    calls = [ToolCall("c1", "search", "{}").wire(), ToolCall("c2", "search", "{}").wire()]
    messages = [*QUESTION, {"role": "assistant", "content": "", "reasoning_content": "r", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "c1", "content": "one"}]
    with pytest.raises(openai.BadRequestError, match="c2"):
        _client(deepseek_server).chat.completions.create(model="deepseek-v4-flash", messages=messages,
                                                         tools=[SEARCH_TOOL])


@pytest.mark.parametrize("extra, status, says", [
    ({"tool_choice": "auto"}, 400, "only allowed when tools are specified"),
    ({"tools": [SEARCH_TOOL], "tool_choice": "sometimes"}, 422, "Invalid tool_choice"),
    ({"tools": [SEARCH_TOOL], "tool_choice": {"type": "function", "function": {"name": "lookup"}}}, 400,
     "no tool named 'lookup'"),
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, 400, "function.name"),
    ({"tools": [SEARCH_TOOL, SEARCH_TOOL]}, 400, "Duplicate function name"),
    ({"tools": [{"type": "retrieval"}]}, 422, "Invalid tools[0]"),
])
def test_malformed_tools_are_refused(deepseek_server, extra, status, says):  # noqa: F811
    with pytest.raises(openai.APIStatusError, match=says.replace("[", r"\[")) as error:
        _client(deepseek_server).chat.completions.create(model="deepseek-v4-flash", messages=QUESTION, **extra)
    assert error.value.status_code == status


def test_a_script_the_api_could_not_produce_is_a_test_bug(deepseek_server):  # noqa: F811
    """Tool calls without tools or against tool_choice "none" (or none when one is required) are refused
    by the server as a bug in the test, so a scripted model cannot do what a real one cannot."""
    client = _client(deepseek_server)
    deepseek_server.script(Reply(tool_calls=PARALLEL[:1]), Reply(tool_calls=PARALLEL[:1]), Reply(content="no call"))
    for extra in ({}, {"tools": [SEARCH_TOOL], "tool_choice": "none"}, {"tools": [SEARCH_TOOL], "tool_choice": "required"}):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="deepseek-v4-flash", messages=QUESTION, **extra)
    assert len(deepseek_server.errors) == 3
