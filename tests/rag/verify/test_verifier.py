"""The verifier on hand-written answers: one case per failure it must catch, and what it must leave alone.

These pin the exact and similarity layers: the entailment layer is off here (``verify_entailment=False``);
``test_entailment_layer.py`` and ``test_misjudgments.py`` test it with a scripted model."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from rag.settings import Settings
from rag.types import Generation, Passage, Usage
from rag.verify.claims import sentence_spans
from rag.verify.verifier import AnswerVerifier

TURBINE = (
    "The Kaplan turbine of Unit 3 runs at 187.5 rpm in normal operation. It was commissioned in March 2019 "
    "after a two-year refit. The overspeed trip is set at 287.5 rpm."
)
LADDER = (
    "Maintenance crews inspect the fish ladder every 14 days. The reservoir holds 3.2 million cubic metres "
    "of water. Swimming in the reservoir is forbidden."
)
OUTPUT = "The plant's annual output is 412 GWh, enough for about 95,000 homes. The operator is Northwind Hydro."


def passage(label: str, text: str, start: int = 100) -> Passage:
    return Passage(label, f"doc-{label}", text, f"file:///docs/{label}.pdf", "Northwind", ("Operations",), (3,),
                   start, start + len(text), (0,))  # fmt: skip


PASSAGES = [passage("S1", TURBINE), passage("S2", LADDER), passage("S3", OUTPUT)]
CHEAP_SETTINGS = Settings(verify_judge="off", verify_entailment=False)


def answer(text: str, reasoning: str = "") -> Generation:
    return Generation(reasoning, text, Usage(), "stop", "local")


@pytest.fixture(scope="module")
def verifier(embedder):
    return AnswerVerifier(CHEAP_SETTINGS, embedder)


def answer_checks(verdict):
    return [check for check in verdict.claims if check.origin == "answer"]


def test_a_grounded_cited_answer_is_supported_with_evidence_spans(verifier):
    verdict = verifier.verify("How fast does Unit 3 run?", PASSAGES,
                              answer("Unit 3 runs at 187.5 rpm [S1]. The overspeed trip is at 287.5 rpm [S1]."))
    assert verdict.label == "supported" and verdict.score >= 0.8 and not verdict.issues
    for check in answer_checks(verdict):
        assert check.status == "supported" and check.citation_issue is None
        evidence = check.evidence
        assert evidence.label == "S1"
        assert TURBINE[evidence.start : evidence.end] == evidence.text  # a UI can highlight it
        assert (evidence.doc_start, evidence.doc_end) == (100 + evidence.start, 100 + evidence.end)
        assert check.judge in ("exact", "semantic") and 0 < check.confidence <= 1
    assert "287.5" in answer_checks(verdict)[1].evidence.text


def test_a_wrong_number_is_contradicted(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("The overspeed trip is set at 300 rpm [S1]."))
    (check,) = answer_checks(verdict)
    assert check.status == "contradicted" and check.judge == "exact"
    assert any("287.5" in note for note in check.notes)
    assert verdict.label == "unsupported"


def test_a_wrong_date_is_contradicted(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("Unit 3 was commissioned in March 2018 [S1]."))
    (check,) = answer_checks(verdict)
    assert check.status == "contradicted"
    assert any("2019" in note for note in check.notes)
    assert verdict.label != "supported"


def test_a_fabricated_quote_is_unsupported(verifier):
    verdict = verifier.verify(None, PASSAGES, answer('The manual calls Unit 3 "the quietest turbine on the river" [S1].'))
    (check,) = answer_checks(verdict)
    assert check.status == "unsupported" and check.judge == "exact"
    assert any("quietest turbine" in note for note in check.notes)
    assert verdict.label == "unsupported"


def test_a_citation_to_the_wrong_passage_is_miscited(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("Crews inspect the fish ladder every 14 days [S3]."))
    (check,) = answer_checks(verdict)
    assert check.status == "supported" and check.citation_issue == "miscited"
    assert check.evidence.label == "S2"
    assert verdict.label == "partially_supported"


def test_a_citation_to_a_passage_that_was_not_given_is_reported(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("Crews inspect the fish ladder every 14 days [S7]."))
    (check,) = answer_checks(verdict)
    assert check.citation_issue == "unknown"
    assert any("S7" in issue and "not given" in issue for issue in verdict.issues)


def test_an_uncited_factual_claim_is_reported(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("The reservoir holds 3.2 million cubic metres of water."))
    (check,) = answer_checks(verdict)
    assert check.status == "supported" and check.citation_issue == "uncited"
    cited = verifier.verify(None, PASSAGES, answer("The reservoir holds 3.2 million cubic metres of water [S2]."))
    assert cited.score > verdict.score  # an uncited claim counts less


def test_citations_are_not_required_when_the_caller_says_so(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("The reservoir holds 3.2 million cubic metres of water."),
                              require_citations=False)
    assert answer_checks(verdict)[0].citation_issue is None and verdict.label == "supported"


def test_a_trace_that_misstates_a_source_is_reported(verifier):
    verdict = verifier.verify(None, PASSAGES, answer(
        "The overspeed trip is set at 287.5 rpm [S1].",
        reasoning="Let me look at the sources. S1 says the overspeed trip is set at 250 rpm. So the answer is S1.",
    ))
    trace = [check for check in verdict.claims if check.origin == "trace"]
    misstated = [check for check in trace if check.status == "contradicted"]
    assert misstated and misstated[0].citations == ("S1",)
    assert any("misstates S1" in issue for issue in verdict.issues)
    assert any(check.kind == "process" and check.status == "not_checkable" for check in trace)


def test_an_answer_that_contradicts_its_trace_is_reported(verifier):
    verdict = verifier.verify(None, PASSAGES, answer(
        "The plant's annual output is 500 GWh [S3].",
        reasoning="According to S3, the plant's annual output is 412 GWh.",
    ))
    assert any("contradicts its reasoning" in issue for issue in verdict.issues)
    assert answer_checks(verdict)[0].status == "contradicted"
    assert verdict.label == "unsupported"


def test_a_correct_abstention(verifier):
    verdict = verifier.verify("Who designed the spillway gates?", PASSAGES,
                              answer("The sources do not contain the answer."))
    assert verdict.label == "abstained" and verdict.score == 1.0 and not verdict.issues
    assert verdict.claims[0].kind == "abstention" and verdict.claims[0].status == "not_checkable"


def test_a_wrong_abstention_is_reported(verifier):
    verdict = verifier.verify("What is the plant's annual output?", PASSAGES,
                              answer("I cannot find this in the provided sources."))
    assert verdict.label == "abstained" and verdict.score < 0.5
    assert any("S3 may answer the question" in issue for issue in verdict.issues)


def test_questions_hedges_and_process_talk_are_kept_as_not_checkable(verifier):
    verdict = verifier.verify(None, PASSAGES, answer(
        "Is the reservoir large? It might hold a lot of water. The reservoir holds 3.2 million cubic metres [S2].",
        reasoning="First, I need to check the sources.",
    ))
    kinds = {(check.kind, check.status) for check in verdict.claims}
    assert {("question", "not_checkable"), ("hedge", "not_checkable"), ("process", "not_checkable")} <= kinds
    assert verdict.label == "supported"


def test_an_answer_with_nothing_to_check_is_not_supported(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("Maybe it depends?"))
    assert verdict.label == "unsupported" and verdict.score == 0.0
    assert any("no claim that can be checked" in issue for issue in verdict.issues)


def test_an_unrelated_claim_is_unsupported_by_similarity(verifier):
    verdict = verifier.verify(None, PASSAGES, answer("Penguins migrate across Antarctica each winter [S2]."))
    (check,) = answer_checks(verdict)
    assert check.status == "unsupported" and check.judge in ("semantic", "exact")


def test_the_verdict_json_has_every_field_a_client_reads(verifier):
    data = verifier.verify(None, PASSAGES, answer("Unit 3 runs at 187.5 rpm [S1].", "S1 says it runs at 187.5 rpm.")).to_dict()
    assert {"label", "score", "claims", "policy_action", "issues", "warnings"} <= set(data)
    claim = data["claims"][0]
    assert {"text", "origin", "status", "citations", "evidence", "judge", "confidence"} <= set(claim)
    assert claim["evidence"]["source_label"] == "S1" and claim["origin"] == "answer"
    assert {c["origin"] for c in data["claims"]} == {"answer", "trace"}


def test_layers_can_be_measured_alone(embedder):
    exact_only = AnswerVerifier(CHEAP_SETTINGS, embedder, layers=("exact",))
    verdict = exact_only.verify(None, PASSAGES, answer("Penguins migrate across Antarctica each winter [S2]."))
    assert answer_checks(verdict)[0].judge in ("exact", "none")
    with pytest.raises(ValueError, match="unknown verifier layers"):
        AnswerVerifier(Settings(), embedder, layers=("nli",))


LABEL_OF = {
    text[s:e]: label
    for label, text in (("S1", TURBINE), ("S2", LADDER), ("S3", OUTPUT))
    for s, e in sentence_spans(text, wrapped=True)
}
SENTENCES = sorted(LABEL_OF)


@given(st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=3, unique=True))
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_sentence_copied_from_a_passage_with_its_citation_is_supported(verifier, sentences):
    text = " ".join(f"{sentence.rstrip('.')} [{LABEL_OF[sentence]}]." for sentence in sentences)
    verdict = verifier.verify(None, PASSAGES, answer(text))
    assert verdict.label == "supported", [(c.text, c.status, c.citation_issue) for c in verdict.claims]
    assert all(c.status == "supported" and c.citation_issue is None for c in answer_checks(verdict))


ANSWERS = [
    "Unit 3 runs at 187.5 rpm [S1]. The reservoir holds 3.2 million cubic metres [S2].",
    "The overspeed trip is set at 300 rpm [S2].",
    "Crews inspect the fish ladder every 14 days [S3]. Northwind Hydro operates the plant.",
    "The sources do not contain the answer.",
]


@given(st.sampled_from(ANSWERS), st.randoms(use_true_random=False))
@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shuffling_the_passages_never_changes_the_verdict(verifier, text, rng: random.Random):
    shuffled = list(PASSAGES)
    rng.shuffle(shuffled)
    first = verifier.verify("What is the plant's output?", PASSAGES, answer(text))
    second = verifier.verify("What is the plant's output?", shuffled, answer(text))
    assert (second.label, second.score) == (first.label, first.score)
    assert [(c.status, c.citation_issue, c.evidence.label if c.evidence else None) for c in second.claims] == [
        (c.status, c.citation_issue, c.evidence.label if c.evidence else None) for c in first.claims
    ]


class CountingEmbedder:
    """The real embedder, recording what it was asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.inner.embed(texts)


def test_claims_an_exact_check_supports_are_not_embedded(embedder):
    counting = CountingEmbedder(embedder)
    lazy = AnswerVerifier(CHEAP_SETTINGS, counting)
    verdict = lazy.verify("How fast does Unit 3 run?", PASSAGES, answer("Unit 3 runs at 187.5 rpm [S1]."))
    assert verdict.label == "supported" and answer_checks(verdict)[0].judge == "exact"
    assert counting.texts == []  # decided by the exact layer: nothing to embed
    assert "187.5" in answer_checks(verdict)[0].evidence.text


def test_claims_exact_checks_leave_open_or_contradict_are_embedded(embedder):
    counting = CountingEmbedder(embedder)
    lazy = AnswerVerifier(CHEAP_SETTINGS, counting)
    verdict = lazy.verify("What may visitors not do?", PASSAGES,
                          answer("Bathing in the lake is not allowed [S2]. Unit 3 runs at 150 rpm [S1]."))
    bathing, speed = answer_checks(verdict)
    assert any("Bathing" in text for text in counting.texts)  # paraphrase: only similarity can tell
    assert any("150 rpm" in text for text in counting.texts)  # contradicted: evidence chosen by meaning
    assert speed.status == "contradicted" and "187.5" in speed.evidence.text
