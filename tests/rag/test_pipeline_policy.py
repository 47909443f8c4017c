"""The verdict policy in the pipeline: accept, flag, retry with the verifier's feedback, abstain; the
verification event when streaming; `verirag ask` printing the per-claim table and the verdict JSON."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from rag.pipeline import AnswerRequest, pipeline_for
from rag.settings import Settings
from rag.store import open_store
from rag.verify.policy import NOT_SUPPORTED
from tests.rag.test_pipeline import QUESTION
from tests.support.deepseek_server import DeepSeekWireServer, Reply, label_holding


def wrong_reply(body: dict) -> Reply:
    label = label_holding(body["messages"][0]["content"], "287.5")
    return Reply(reasoning="The trip speed is listed.", content=f"Unit 3 trips on overspeed at 350 rpm [{label}].")


def right_reply(body: dict) -> Reply:
    label = label_holding(body["messages"][0]["content"], "287.5")
    return Reply(reasoning="The trip speed is listed.", content=f"Unit 3 trips on overspeed at 287.5 rpm [{label}].")


@pytest.fixture
def server(monkeypatch):
    with DeepSeekWireServer(api_key="sk-test") as server:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
        yield server


def run(server, data_dir, policy: str, *replies, stream: bool = False):
    settings = Settings(data_dir=data_dir, default_model="deepseek-v4-flash", verify_judge="off",
                        profiles={"deepseek-v4-flash": {"base_url": server.base_url}})
    server.script(*replies)
    with open_store(settings, "demo") as store:
        pipeline = pipeline_for(settings, store)
        request = AnswerRequest(QUESTION, verify=policy)
        if stream:
            return list(pipeline.stream(request))
        return pipeline.answer(request)


def test_flag_returns_the_answer_with_warnings(server, data_dir):
    result = run(server, data_dir, "flag", wrong_reply)
    verdict = result.verdict
    assert "350 rpm" in result.answer and verdict.label == "unsupported" and verdict.policy_action == "flag"
    assert any("350 rpm" in warning and "contradicted" in warning for warning in verdict.warnings)
    contradicted = [c for c in verdict.claims if c.status == "contradicted"]
    assert contradicted and "rpm" in contradicted[0].evidence.text
    assert any("287.5 rpm" in note for note in contradicted[0].notes)


def test_accept_returns_the_verdict_without_acting(server, data_dir):
    result = run(server, data_dir, "accept", wrong_reply)
    assert result.verdict.policy_action == "accept" and result.verdict.warnings == ()
    assert "350 rpm" in result.answer and result.verdict.label == "unsupported"


def test_a_supported_answer_is_accepted_under_every_policy(server, data_dir):
    for policy in ("flag", "retry", "abstain"):
        result = run(server, data_dir, policy, right_reply)
        assert result.verdict.label == "supported" and result.verdict.policy_action == "accept", policy
    assert len(server.chat_bodies) == 3  # no retry was needed


def test_retry_sends_the_failed_claims_back_and_keeps_the_better_answer(server, data_dir):
    result = run(server, data_dir, "retry", wrong_reply, right_reply)
    verdict = result.verdict
    assert "287.5 rpm" in result.answer and verdict.label == "supported" and verdict.policy_action == "retry"
    assert verdict.previous is not None and verdict.previous.label == "unsupported"
    first, second = server.chat_bodies
    feedback = second["messages"][-1]["content"]
    assert "350 rpm" in feedback and "only what the sources say" in feedback
    assert second["messages"][-2] == {"role": "assistant", "content": first_answer(first, server)}
    assert result.usage.completion_tokens > 0 and {"retry_generate", "retry_verify"} <= set(result.timings)
    assert result.to_dict()["verdict"]["previous"]["label"] == "unsupported"


def first_answer(first_body: dict, server) -> str:
    label = label_holding(first_body["messages"][0]["content"], "287.5")
    return f"Unit 3 trips on overspeed at 350 rpm [{label}]."


def test_retry_keeps_the_first_answer_when_the_second_is_no_better(server, data_dir):
    result = run(server, data_dir, "retry", wrong_reply, lambda body: Reply(content="It might be fast, I think."))
    assert "350 rpm" in result.answer
    assert result.verdict.policy_action == "retry" and result.verdict.previous is not None
    assert result.verdict.previous.score == 0.0 and "might be fast" in result.verdict.previous.claims[0].text


def test_abstain_replaces_an_unsupported_answer_with_what_the_sources_say(server, data_dir):
    result = run(server, data_dir, "abstain", wrong_reply)
    assert result.answer.startswith(NOT_SUPPORTED) and "What they do say:" in result.answer
    assert "350 rpm" in result.replaced_answer and result.verdict.policy_action == "abstain"
    assert result.citations  # the statement cites the passages it quotes


def test_streaming_sends_the_verification_before_done(server, data_dir):
    events = run(server, data_dir, "flag", wrong_reply, stream=True)
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["verification", "done"]
    assert events[-2][1] is events[-1][1].verdict


def test_a_bad_policy_fails_before_the_model_is_called(server, data_dir):
    with pytest.raises(ValueError, match="verify policy 'maybe'"):
        run(server, data_dir, "maybe", wrong_reply)
    assert server.chat_bodies == []


def invoke_ask(server, data_dir, monkeypatch, *args):
    from cli.ask import register

    monkeypatch.setenv("VERIRAG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VERIRAG_DEFAULT_MODEL", "deepseek-v4-flash")
    monkeypatch.setenv("VERIRAG_PROFILES", json.dumps({"deepseek-v4-flash": {"base_url": server.base_url}}))
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: Typer keeps "ask" as a sub-command
    return CliRunner().invoke(app, ["ask", QUESTION, "--collection", "demo", "--judge", "off", *args])


def test_ask_json_carries_the_verdict(server, data_dir, monkeypatch):
    server.script(wrong_reply)
    result = invoke_ask(server, data_dir, monkeypatch, "--json", "--verify", "flag")
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.output)["verdict"]
    assert {"label", "score", "claims", "policy_action"} <= set(verdict)
    assert verdict["label"] == "unsupported" and verdict["policy_action"] == "flag"
    claim = verdict["claims"][0]
    assert {"text", "origin", "status", "citations", "evidence", "judge", "confidence"} <= set(claim)
    assert claim["status"] == "contradicted" and claim["origin"] == "answer"


def test_ask_prints_a_per_claim_table(server, data_dir, monkeypatch):
    server.script(wrong_reply)
    result = invoke_ask(server, data_dir, monkeypatch)
    assert result.exit_code == 0, result.output
    table = result.output.split("Verification:")[1]
    row = next(line for line in table.splitlines() if "350 rpm" in line)
    assert "contradicted" in row and " exact " in row and "rpm" in row.split("350 rpm")[1]  # the evidence
    assert "Verdict: unsupported" in result.output and "policy: flag" in result.output


def test_every_label_the_table_shows_is_resolved_to_a_document(server, data_dir, monkeypatch):
    server.script(wrong_reply)
    result = invoke_ask(server, data_dir, monkeypatch)
    assert result.exit_code == 0, result.output
    head, table = result.output.split("Verification:")
    shown = set(re.findall(r"\s(S\d+)\s", table))
    assert shown  # the verifier named its evidence
    resolved = set(re.findall(r"^  \[(S\d+)\] \S+", head, flags=re.MULTILINE))
    assert shown <= resolved


def test_ask_rejects_a_bad_judge_mode(server, data_dir, monkeypatch):
    result = invoke_ask(server, data_dir, monkeypatch, "--judge", "sometimes")
    assert result.exit_code == 2 and "choose off, uncertain or always" in result.output


@pytest.mark.parametrize("args, message", [
    (["--verify", "strict"], "verify policy 'strict'"),
    (["--model", "gpt-nope"], "gpt-nope"),
    (["--filter", "page"], "invalid filter 'page'"),
])
def test_ask_refuses_bad_usage_before_loading_anything(server, data_dir, monkeypatch, args, message):
    import rag.pipeline

    def no_pipeline(*_args, **_kwargs):
        raise AssertionError("the pipeline was built before the options were checked")

    monkeypatch.setattr(rag.pipeline, "pipeline_for", no_pipeline)
    result = invoke_ask(server, data_dir, monkeypatch, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())
