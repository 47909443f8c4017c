"""Whether the LLM judge runs under ``verify_judge = "uncertain"`` is the judging profile's ``can_judge``:
a profile too small to judge is never asked; ``always`` asks it regardless."""

from __future__ import annotations

import json

import pytest

from rag.settings import Settings
from rag.types import Generation, Passage, Usage
from rag.verify.verifier import AnswerVerifier
from tests.support.deepseek_server import DeepSeekWireServer, Reply

POLICY = (
    "Visitors must sign in at the gatehouse before entering the dam crest. Children under twelve are "
    "admitted only with an adult. Dogs are welcome on the lower trail."
)
PASSAGES = [Passage("S1", "rules", POLICY, "file:///rules.md", "Visitor rules", (), (), 0, len(POLICY), (0,))]
# Paraphrased, no numbers or names: the cheap judges are not decisive, so "uncertain" would ask the judge.
CLAIM = "People visiting must register at the entrance building before walking on the top of the dam [S1]."
SUPPORTED = Reply(content=json.dumps({"results": [{
    "claim": 1, "verdict": "supported", "source": "S1",
    "quote": "Visitors must sign in at the gatehouse before entering the dam crest."}]}))


@pytest.fixture
def judge_server(monkeypatch):
    with DeepSeekWireServer(api_key="sk-test") as server:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
        yield server


def settings_for(server, mode: str, *, can_judge: bool, judge_model: str | None = "judge") -> Settings:
    # Without the entailment layer the paraphrase stays undecided by the cheap judges.
    return Settings(verify_judge=mode, verify_judge_model=judge_model, verify_entailment=False,
                    profiles={"judge": {"extends": "deepseek-v4-flash", "base_url": server.base_url,
                                        "max_retries": 0, "can_judge": can_judge}})


def verify(settings: Settings, embedder, model: str = "judge"):
    generation = Generation("", CLAIM, Usage(), "stop", model)
    verdict = AnswerVerifier(settings, embedder).verify("Do visitors need to sign in?", PASSAGES, generation)
    (check,) = [c for c in verdict.claims if c.origin == "answer"]
    return verdict, check


def test_uncertain_asks_a_profile_that_can_judge(judge_server, embedder):
    judge_server.script(SUPPORTED)
    verdict, check = verify(settings_for(judge_server, "uncertain", can_judge=True), embedder)
    assert len(judge_server.chat_bodies) == 1
    assert check.judge == "llm" and verdict.judge_model == "judge"


def test_uncertain_never_asks_a_profile_that_cannot_judge(judge_server, embedder):
    verdict, check = verify(settings_for(judge_server, "uncertain", can_judge=False), embedder)
    assert judge_server.chat_bodies == []
    assert check.judge != "llm" and verdict.judge_model is None
    assert check.status in ("supported", "unsupported", "contradicted", "undecided")  # the cheap judges decide


def test_always_asks_even_a_profile_that_cannot_judge(judge_server, embedder):
    judge_server.script(SUPPORTED)
    verdict, check = verify(settings_for(judge_server, "always", can_judge=False), embedder)
    assert len(judge_server.chat_bodies) == 1 and check.judge == "llm"


def test_without_a_judge_model_the_answering_profile_decides(judge_server, embedder):
    # The built-in local profile (SmolLM2-135M) cannot judge: nothing is loaded, nothing is asked.
    settings = settings_for(judge_server, "uncertain", can_judge=True, judge_model=None)
    verdict, check = verify(settings, embedder, model="local")
    assert verdict.judge_model is None and check.judge != "llm"
    judge_server.script(SUPPORTED)
    verdict, check = verify(settings, embedder, model="judge")
    assert verdict.judge_model == "judge" and check.judge == "llm"
