"""The question path end to end over the sample documents: real retrieval and prompt, the
DeepSeek backend against the wire-format server, the local model in-process, and `verirag ask`."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from rag.pipeline import AnswerRequest, Pipeline
from rag.settings import Settings
from rag.store import open_store
from tests.support.deepseek_server import DeepSeekWireServer, Reply, label_holding

QUESTION = "At what speed does Unit 3 trip on overspeed?"






def grounded_reply(body: dict) -> Reply:
    system = body["messages"][0]["content"]
    label = label_holding(system, "287.5")
    return Reply(
        reasoning=f"Source {label} lists the trip speeds; Unit 3 is the Kaplan unit.",
        content=f"Unit 3 trips on overspeed at 287.5 rpm [{label}].",
        prompt_tokens=1000, prompt_cache_hit_tokens=640, prompt_cache_miss_tokens=360,
    )


@pytest.fixture
def deepseek(monkeypatch, data_dir):
    with DeepSeekWireServer(api_key="sk-test", responder=grounded_reply) as server:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
        settings = Settings(
            data_dir=data_dir,
            default_model="deepseek-v4-flash",
            profiles={"deepseek-v4-flash": {"base_url": server.base_url}},
        )
        yield server, settings


def test_answer_cites_the_passage_that_holds_the_fact(deepseek, embedder):
    server, settings = deepseek
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION))

    assert "287.5 rpm" in result.answer and "Kaplan" in result.reasoning
    assert result.model == "deepseek-v4-flash"
    [citation] = result.citations
    assert "287.5" in citation.text and citation.doc_id in {"oncall_runbook.md", "maintenance_log.csv"}
    assert citation.source.endswith(citation.doc_id)
    assert result.unknown_citations == []
    assert (result.usage.cache_hit_tokens, result.usage.cache_miss_tokens) == (640, 360)
    assert result.cost_usd > 0 and result.timings["retrieve"] > 0 and result.timings["generate"] > 0
    # The prompt: instructions and sources first, the question last.
    messages = server.last_body["messages"]
    assert messages[0]["role"] == "system" and messages[-1] == {"role": "user", "content": QUESTION}
    assert server.last_body["model"] == "deepseek-v4-flash"


def test_streaming_keeps_reasoning_and_answer_apart(deepseek, embedder):
    _, settings = deepseek
    with open_store(settings, "demo") as store:
        events = list(Pipeline(settings, store, embedder).stream(AnswerRequest(QUESTION)))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "retrieval" and kinds[-1] == "done"
    assert kinds.index("answer") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    result = events[-1][1]
    assert "".join(text for kind, text in events if kind == "answer").strip() == result.answer
    assert result.citations and "287.5" in result.citations[0].text


def test_follow_up_turns_never_send_reasoning_back(deepseek, embedder):
    server, settings = deepseek
    history = [
        {"role": "user", "content": "Which units are Francis turbines?"},
        {"role": "assistant", "content": "Units 1 and 2 [S1].", "reasoning_content": "SECRET CHAIN OF THOUGHT"},
    ]
    with open_store(settings, "demo") as store:
        Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION, history=history))
    sent = json.dumps(server.last_body)
    assert "SECRET CHAIN OF THOUGHT" not in sent and "Units 1 and 2 [S1]." in sent


def test_ask_json_has_the_documented_fields(deepseek, monkeypatch):
    from cli.ask import register

    server, settings = deepseek
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VERIRAG_DEFAULT_MODEL", "deepseek-v4-flash")
    monkeypatch.setenv("VERIRAG_PROFILES", json.dumps({"deepseek-v4-flash": {"base_url": server.base_url}}))
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: Typer keeps "ask" as a sub-command

    result = CliRunner().invoke(app, ["ask", QUESTION, "--collection", "demo", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"answer", "reasoning", "citations", "usage", "timings", "model"} <= set(data)
    assert set(data["citations"][0]) >= {"label", "doc_id", "source", "page", "text"}
    assert {"retrieve", "generate"} <= set(data["timings"])
    assert data["usage"]["cache_hit_tokens"] == 640


def test_ask_names_the_key_variable_when_the_key_is_wrong(deepseek, monkeypatch):
    from cli.ask import register

    server, settings = deepseek
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-wrong")
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VERIRAG_PROFILES", json.dumps({"deepseek-v4-flash": {"base_url": server.base_url}}))
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)

    result = CliRunner().invoke(app, ["ask", QUESTION, "-c", "demo", "-m", "deepseek-v4-flash"])

    assert result.exit_code == 1
    assert "DEEPSEEK_API_KEY" in result.output


@pytest.mark.slow
def test_local_model_answers_in_process(data_dir, embedder):
    settings = Settings(data_dir=data_dir, llm_threads=1)
    with open_store(settings, "demo") as store:
        result = Pipeline(settings, store, embedder).answer(AnswerRequest(QUESTION, model="local", top_k=3))
    assert result.model == "local" and result.answer.strip()
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert len(result.passages) <= 3
