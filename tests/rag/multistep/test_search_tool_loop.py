"""The search tool loop end to end: the real pipeline over the ingested sample documents, DeepSeek's
wire format served on loopback and spoken by the real ``openai`` SDK, and the real verifier.

The scripted model asks for what the first retrieval left out (the question has two halves, in two
documents, and retrieval is one passage deep), then answers citing both; the server enforces DeepSeek's
rules on the way (tools and tool_choice, every tool call answered, reasoning sent back on tool-call turns
in thinking mode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.multistep.strategy import MultistepConfigError
from rag.pipeline import AnswerRequest, Pipeline
from rag.settings import Settings
from rag.store import open_store
from tests.support.deepseek_server import DeepSeekWireServer, Reply, label_holding

QUESTION = "At what speed does Unit 3 trip on overspeed, and what is the on-call allowance on a Saturday?"
ALLOWANCE_QUERY = "on-call allowance on a Saturday"




def _settings(data_dir: Path, server: DeepSeekWireServer, model: str = "deepseek-v4-flash", profile: dict | None = None,
              **overrides) -> Settings:
    return Settings(data_dir=data_dir, default_model=model, retrieval_top_k=1, search_tool_top_k=2,
                    verify_judge="off", profiles={model: {"base_url": server.base_url, **(profile or {})}}, **overrides)


@pytest.fixture
def server(monkeypatch):
    with DeepSeekWireServer(api_key="sk-test") as server:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
        yield server


def _tool_results(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def _all_sources(body: dict) -> str:
    return "\n\n".join([body["messages"][0]["content"], *_tool_results(body)])


NEEDED = {"287.5": "Unit 3 overspeed trip speed", "EUR 90": ALLOWANCE_QUERY}  # fact → the query that finds it


def searching_model(body: dict) -> Reply:
    """Searches (in parallel) for each needed fact its sources lack, once; then answers from every source."""
    sources = _all_sources(body)
    missing = [query for fact, query in NEEDED.items() if fact not in sources]
    if missing and not _tool_results(body):
        return Reply(reasoning="The sources lack part of the answer: I will search.",
                     tool_calls=[{"name": "search", "arguments": {"query": query}} for query in missing])
    speed, allowance = label_holding(sources, "287.5"), label_holding(sources, "EUR 90")
    return Reply(reasoning=f"{speed} has the trip speed, {allowance} the allowance.",
                 content=f"Unit 3 trips on overspeed at 287.5 rpm [{speed}]. The on-call allowance on a Saturday "
                         f"is EUR 90 per day [{allowance}].")


def test_a_search_adds_sources_that_the_answer_cites_and_the_verifier_checks(server, data_dir, embedder):
    from rag.verify.verifier import verifier_for

    server.responder = searching_model
    settings = _settings(data_dir, server)
    with open_store(settings, "demo") as store:
        pipeline = Pipeline(settings, store, embedder, verifier=verifier_for(settings, embedder))
        result = pipeline.answer(AnswerRequest(QUESTION, verify="flag"))

    first_body, second_body = server.chat_bodies
    # Both requests offer the tool; the model may choose.
    for body in (first_body, second_body):
        assert [tool["function"]["name"] for tool in body["tools"]] == ["search"]
        assert body["tool_choice"] == "auto"
    # The second request carries the tool-call turn back with its reasoning (thinking mode: V4's rule) and
    # each search's result as a tool message answering its call.
    assistant = next(m for m in second_body["messages"] if m["role"] == "assistant")
    assert assistant["reasoning_content"].startswith("The sources lack part of the answer")
    queries = [json.loads(call["function"]["arguments"])["query"] for call in assistant["tool_calls"]]
    # One passage deep, the first prompt cannot hold both halves of the question: the model searched for
    # what it lacked.
    missing = [fact for fact in NEEDED if fact not in first_body["messages"][0]["content"]]
    assert missing and queries == [NEEDED[fact] for fact in missing]
    tool_messages = [m for m in second_body["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [call["id"] for call in assistant["tool_calls"]]
    assert all(m["content"].startswith(("New sources:", "Already among")) for m in tool_messages)

    labels = [p.label for p in result.passages]
    assert labels == [f"S{i}" for i in range(1, len(labels) + 1)] and len(labels) >= 2
    assert result.passages[0].label == "S1" and all(fact not in result.passages[0].text for fact in missing)
    for fact in missing:  # found by a search, labelled after the first retrieval's source
        assert any(fact in p.text for p in result.passages[1:]), fact
    sources = _all_sources(second_body)
    assert {c.label for c in result.citations} == {label_holding(sources, "287.5"), label_holding(sources, "EUR 90")}
    assert result.unknown_citations == []
    # The verifier read the searched sources: the answer's claims are supported by them.
    assert result.verdict is not None and result.verdict.label == "supported", result.verdict.to_dict()
    assert server.errors == []


def test_usage_of_every_turn_is_counted(server, data_dir, embedder):
    server.script(
        Reply(reasoning="search", tool_calls=[{"name": "search", "arguments": {"query": ALLOWANCE_QUERY}}],
              prompt_tokens=1000, completion_tokens=30),
        Reply(reasoning="answer", content="It is EUR 90 per day.", prompt_tokens=1500, completion_tokens=20),
    )
    settings = _settings(data_dir, server)
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2500, 50)


def test_the_loop_stops_at_the_limit_and_then_the_model_must_answer(server, data_dir, embedder):
    """Parallel calls count one each; past the limit a call is answered "limit reached" and the next
    request says tool_choice "none" (the server refuses a scripted tool call then, as the API would)."""
    def greedy(body: dict) -> Reply:
        if body.get("tool_choice") == "none":
            return Reply(reasoning="No more searches.", content="Unit 3 trips at 287.5 rpm [S1].")
        return Reply(reasoning="More.", tool_calls=[
            {"name": "search", "arguments": {"query": "overspeed trip Unit 1"}},
            {"name": "search", "arguments": {"query": "alarm debounce default HydroView 3.2.1"}}])

    server.responder = greedy
    settings = _settings(data_dir, server, search_tool_max_calls=3)
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))

    bodies = server.chat_bodies
    assert [b["tool_choice"] for b in bodies] == ["auto", "auto", "none"]
    last_tools = [m["content"] for m in bodies[-1]["messages"] if m["role"] == "tool"]
    assert len(last_tools) == 4  # every call answered, the fourth with the limit
    assert last_tools[3].startswith("error: the search limit (3 per question) is reached")
    assert not any(t.startswith("error") for t in last_tools[:3])
    assert result.answer == "Unit 3 trips at 287.5 rpm [S1]."
    assert server.errors == []


def test_a_malformed_tool_call_is_answered_with_what_to_send(server, data_dir, embedder):
    seen: dict = {}

    def model(body: dict) -> Reply:
        results = _tool_results(body)
        if not results:
            return Reply(reasoning="Search.", tool_calls=[{"name": "search", "arguments": '{"query": "allowance'}])
        seen["error"] = results[0]
        return Reply(reasoning="The search failed.", content="Unit 3 trips at 287.5 rpm [S1].")

    server.responder = model
    settings = _settings(data_dir, server)
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))

    assert seen["error"].startswith('error: the arguments must be a JSON object {"query": "<what to search for>"}')
    assert '{"query": "allowance' in seen["error"]  # the model sees what it sent
    assert [p.label for p in result.passages] == ["S1"]  # nothing was searched
    assert len(server.chat_bodies) == 2 and server.errors == []


def test_a_call_to_an_unknown_tool_names_the_one_there_is(server, data_dir, embedder):
    seen: dict = {}

    def model(body: dict) -> Reply:
        results = _tool_results(body)
        if not results:
            return Reply(reasoning="Look it up.", tool_calls=[{"name": "lookup", "arguments": {"query": "x"}}])
        seen["error"] = results[0]
        return Reply(reasoning="Fine.", content="Unit 3 trips at 287.5 rpm [S1].")

    server.responder = model
    settings = _settings(data_dir, server)
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))
    assert seen["error"] == "error: there is no tool named 'lookup'; the only tool is 'search'"
    assert [p.label for p in result.passages] == ["S1"]


def test_streaming_runs_the_loop_and_the_result_holds_every_source(server, data_dir, embedder):
    server.responder = searching_model
    settings = _settings(data_dir, server)
    with open_store(settings, "demo") as store:
        events = list(Pipeline(settings, store, embedder).stream(AnswerRequest(QUESTION)))

    assert all(b["stream"] for b in server.chat_bodies) and len(server.chat_bodies) == 2
    reasoning = "".join(text for kind, text in events if kind == "reasoning")
    assert "I will search" in reasoning and "the allowance" in reasoning  # both turns' reasoning streamed
    result = dict(events)["done"]
    assert all(any(fact in p.text for p in result.passages) for fact in NEEDED)
    assert len(result.citations) == 2 and result.unknown_citations == []
    # The streamed tool calls were rebuilt from their pieces: the arguments went back whole.
    assistant = next(m for m in server.chat_bodies[1]["messages"] if m["role"] == "assistant")
    queries = [json.loads(call["function"]["arguments"])["query"] for call in assistant["tool_calls"]]
    assert queries and set(queries) <= set(NEEDED.values())


def test_non_thinking_turns_go_back_without_reasoning(server, data_dir, embedder):
    server.responder = searching_model
    settings = _settings(data_dir, server, model="deepseek-v4-flash-nothink")
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION, model="deepseek-v4-flash-nothink"))
    assistant = next(m for m in server.chat_bodies[1]["messages"] if m["role"] == "assistant")
    assert "reasoning_content" not in assistant and assistant["tool_calls"]
    assert len(result.citations) == 2


def test_settings_turn_the_tool_off_or_refuse_a_profile_without_tools(server, data_dir, embedder):
    for off in ({"search_tool_max_calls": 0}, {"multistep": "off"}):
        server.reset()
        server.responder = lambda body: Reply(content="Unit 3 trips at 287.5 rpm [S1].")
        settings = _settings(data_dir, server, **off)
        with open_store(settings, "demo") as store:
            Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))
        assert "tools" not in server.last_body, off
    settings = _settings(data_dir, server, multistep="tools", profile={"tools": False})
    with open_store(settings, "demo") as store, pytest.raises(MultistepConfigError, match="tools = true"):
        Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))


def test_an_unavailable_model_hands_over_to_its_fallback_without_the_tool(server, data_dir, embedder):
    server.script(*[Reply(status=503) for _ in range(2)], Reply(content="Unit 3 trips at 287.5 rpm [S1]."))
    settings = Settings(
        data_dir=data_dir, default_model="deepseek-v4-flash", retrieval_top_k=1, llm_retry_base_s=0.001,
        llm_retry_cap_s=0.001,
        profiles={"deepseek-v4-flash": {"base_url": server.base_url, "max_retries": 1,
                                        "fallback": "deepseek-v4-flash-nothink"},
                  "deepseek-v4-flash-nothink": {"base_url": server.base_url}},
    )
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))
    bodies = server.chat_bodies
    assert [("tools" in b) for b in bodies] == [True, True, False]
    assert bodies[-1]["thinking"] == {"type": "disabled"}
    assert result.answer == "Unit 3 trips at 287.5 rpm [S1]." and result.model == "deepseek-v4-flash-nothink"


def test_new_search_sources_number_after_the_highest_label_not_after_the_count():
    # A conversation that dropped its oldest turn keeps S5 and S9: a search's first source must be S10,
    # never S3 (which an earlier answer may still cite for another passage).
    from rag.multistep.tool_loop import next_label_number
    from rag.types import Passage

    def passage(label: str) -> Passage:
        return Passage(label, label.lower(), "text", "a.md", "A", (), (), 0, 4, (0,))

    kept = [passage("S9"), passage("S5")]
    assert next_label_number(kept) == 10
    assert next_label_number([]) == 1
