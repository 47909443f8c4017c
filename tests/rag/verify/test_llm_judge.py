"""The LLM judge: against the DeepSeek wire-format server (request shape, JSON replies, bad replies, the
empty-content retry) and against the real local model."""

from __future__ import annotations

import json

import pytest

from rag.settings import Settings
from rag.types import Generation, Passage, Usage
from rag.verify.llm_judge import excerpts_for, parse_rulings
from rag.verify.verifier import AnswerVerifier
from tests.support.deepseek_server import DeepSeekWireServer, Reply

POLICY = (
    "Visitors must sign in at the gatehouse before entering the dam crest. Children under twelve are "
    "admitted only with an adult. Dogs are welcome on the lower trail."
)
PASSAGES = [Passage("S1", "rules", POLICY, "file:///rules.md", "Visitor rules", (), (), 0, len(POLICY), (0,))]
# Paraphrased, no numbers or names: the cheap judges are not decisive, so the LLM judge is asked.
CLAIM = "People visiting must register at the entrance building before walking on the top of the dam [S1]."


def generation(text: str, model: str = "deepseek-v4-flash") -> Generation:
    return Generation("", text, Usage(), "stop", model)


@pytest.fixture
def judge_server(monkeypatch):
    with DeepSeekWireServer(api_key="sk-test") as server:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
        yield server


def settings_for(server, mode: str) -> Settings:
    return Settings(verify_judge=mode, verify_judge_model="deepseek-v4-flash", verify_entailment=False,
                    profiles={"deepseek-v4-flash": {"base_url": server.base_url, "max_retries": 0}})


def ruling(verdict: str, quote: str, claim: int = 1) -> Reply:
    return Reply(content=json.dumps({"results": [{"claim": claim, "verdict": verdict, "source": "S1", "quote": quote}]}))


def test_undecided_claims_go_to_the_llm_judge_in_json_mode(judge_server, embedder):
    judge_server.script(ruling("supported", "Visitors must sign in at the gatehouse before entering the dam crest."))
    verdict = AnswerVerifier(settings_for(judge_server, "uncertain"), embedder).verify(
        "Do visitors need to sign in?", PASSAGES, generation(CLAIM)
    )
    (check,) = [c for c in verdict.claims if c.origin == "answer"]
    assert check.judge == "llm" and check.status == "supported" and check.confidence == pytest.approx(0.8)
    assert check.evidence.label == "S1" and verdict.judge_model == "deepseek-v4-flash"
    (body,) = judge_server.chat_bodies
    assert body["response_format"] == {"type": "json_object"}
    prompt = body["messages"][-1]["content"]
    assert "json" in prompt and "People visiting must register" in prompt and "[S1]" in prompt


def test_a_contradiction_from_the_judge_is_recorded_with_its_quote(judge_server, embedder):
    judge_server.script(ruling("contradicted", "Visitors must sign in at the gatehouse before entering the dam crest."))
    verdict = AnswerVerifier(settings_for(judge_server, "uncertain"), embedder).verify(
        None, PASSAGES, generation(CLAIM)
    )
    (check,) = [c for c in verdict.claims if c.origin == "answer"]
    assert check.status == "contradicted" and check.judge == "llm"
    assert any("gatehouse" in note for note in check.notes)
    assert verdict.label != "supported"


def test_a_quote_that_is_not_in_the_source_lowers_the_confidence(judge_server, embedder):
    judge_server.script(ruling("supported", "Registration happens at the visitor centre."))
    verdict = AnswerVerifier(settings_for(judge_server, "uncertain"), embedder).verify(None, PASSAGES, generation(CLAIM))
    (check,) = [c for c in verdict.claims if c.origin == "answer"]
    assert check.judge == "llm" and check.confidence < 0.6
    assert any("quote not found" in note for note in check.notes)


def test_an_unreadable_reply_leaves_the_claim_to_the_cheap_judges(judge_server, embedder):
    judge_server.script(Reply(content="I think it is probably fine."))
    verdict = AnswerVerifier(settings_for(judge_server, "uncertain"), embedder).verify(None, PASSAGES, generation(CLAIM))
    (check,) = [c for c in verdict.claims if c.origin == "answer"]
    assert check.judge != "llm"
    assert any("ruled on 0 of 1" in issue for issue in verdict.issues)


def test_empty_json_content_is_asked_once_more(judge_server, embedder):
    judge_server.script(Reply(content=""), ruling("supported", "Dogs are welcome on the lower trail."))
    verdict = AnswerVerifier(settings_for(judge_server, "uncertain"), embedder).verify(
        None, PASSAGES, generation("Dogs may come along on the lower path [S1].")
    )
    assert len(judge_server.chat_bodies) == 2
    assert [c.judge for c in verdict.claims if c.origin == "answer"] == ["llm"]


def test_an_unreachable_judge_is_an_issue_not_a_failure(embedder, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
    settings = Settings(verify_judge="always", verify_judge_model="deepseek-v4-flash", verify_entailment=False,
                        profiles={"deepseek-v4-flash": {"base_url": "http://127.0.0.1:9", "max_retries": 0}})
    verdict = AnswerVerifier(settings, embedder).verify(None, PASSAGES, generation(CLAIM))
    assert any("could not run" in issue for issue in verdict.issues)
    assert not any("127.0.0.1:9" in issue for issue in verdict.issues)  # the judge's address stays in the log
    assert verdict.claims[0].judge != "llm"


def test_mode_off_never_calls_the_model_and_always_judges_every_claim(judge_server, embedder):
    AnswerVerifier(settings_for(judge_server, "off"), embedder).verify(None, PASSAGES, generation(CLAIM))
    assert judge_server.chat_bodies == []
    decided = "Dogs are welcome on the lower trail [S1]."  # word for word: decided without the model
    judge_server.script(Reply(content=json.dumps({"results": [
        {"claim": 1, "verdict": "supported", "source": "S1", "quote": "Dogs are welcome on the lower trail."},
        {"claim": 2, "verdict": "not_enough_info", "source": "S1", "quote": ""},
    ]})))
    verdict = AnswerVerifier(settings_for(judge_server, "always"), embedder).verify(
        None, PASSAGES, generation(f"{decided} Cats are welcome too [S1].")
    )
    assert len(judge_server.chat_bodies) == 1
    assert [c.judge for c in verdict.claims] == ["llm", "llm"]
    assert [c.status for c in verdict.claims] == ["supported", "unsupported"]


def test_an_unquoted_ruling_does_not_overturn_a_decisive_exact_finding(judge_server, embedder):
    judge_server.script(ruling("supported", ""))
    verdict = AnswerVerifier(settings_for(judge_server, "always"), embedder).verify(
        None, PASSAGES, generation("Children under 16 are admitted only with an adult [S1].")
    )
    (check,) = verdict.claims
    assert check.judge == "exact" and check.status in ("contradicted", "unsupported")
    assert any("exact check stands" in note for note in check.notes)


def test_parse_rulings_reads_what_models_write():
    passages = {"S1": PASSAGES[0]}
    fenced = '```json\n{"results": [{"id": "2", "label": "Refuted", "source": "[S1]", "quote": "Dogs are welcome on the lower trail"}]}\n```'
    rulings = parse_rulings(fenced, 2, passages)
    assert set(rulings) == {1} and rulings[1].verdict == "contradicted" and rulings[1].quote_found
    assert parse_rulings('[{"claim": 1, "verdict": "nei"}]', 1, passages)[0].verdict == "not_enough_info"
    assert parse_rulings('{"results": [{"claim": 9, "verdict": "supported"}]}', 1, passages) == {}
    assert parse_rulings("no json here", 1, passages) == {}


def test_excerpts_merge_spans_of_one_source():
    text = POLICY
    first = text.index("Children")
    excerpts = excerpts_for([(PASSAGES[0], 0, 20), (PASSAGES[0], first, first + 10)])
    assert list(excerpts) == ["S1"] and excerpts["S1"].startswith("Visitors must sign in")


@pytest.mark.slow
def test_the_local_model_judges_through_the_same_path(embedder):
    """SmolLM2-135M is a poor judge; this checks the path: a grammar-constrained JSON reply that parses,
    rulings applied or the shortfall reported."""
    settings = Settings(verify_judge="always", verify_judge_model="local", llm_threads=1, verify_entailment=False)
    verdict = AnswerVerifier(settings, embedder).verify(None, PASSAGES, generation(CLAIM, model="local"))
    (check,) = verdict.claims
    assert verdict.judge_model == "local"
    ruled = check.judge == "llm"
    shortfall = any("ruled on 0 of 1" in issue for issue in verdict.issues)
    assert ruled != shortfall
    assert not any("could not run" in issue for issue in verdict.issues)
