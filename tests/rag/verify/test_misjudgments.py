"""Misjudgments seen on real PDFs (issue 13), each pinned: a scripted model answering about the BERT paper
with citations. Every case runs with the entailment layer (a stand-in model that reads words, so that
the verifier's rules are tested, not a trained model's quality) and, where the rule is not the
entailment layer's, with the similarity layer that judges when entailment is off."""

from __future__ import annotations

import numpy as np
import pytest

from rag.settings import Settings
from rag.types import Generation, Passage, Usage
from rag.verify.cues import key_terms
from rag.verify.entailment import Decision
from rag.verify.items import clean
from rag.verify.verifier import AnswerVerifier

ARCHITECTURE = (
    "BERT's model architecture is a multi-layer bidirectional Transformer encoder based on the original "
    "implementation described in Vaswani et al. (2017). In this work, we denote the number of layers (i.e., "
    "Transformer blocks) as L, the hidden size as H, and the number of self-attention heads as A. We primarily "
    "report results on two model sizes: BERTBASE (L=12, H=768, A=12, Total Parameters=110M) and BERTLARGE "
    "(L=24, H=1024, A=16, Total Parameters=340M)."
)
MASKED_LM = (
    "Task #1: Masked LM Intuitively, it is reasonable to believe that a deep bidirectional model is strictly "
    "more powerful than either a left-to-right model or the shallow concatenation of a left-to-right and a "
    "right-to-left model. In order to train a deep bidirectional representation, we simply mask some percentage "
    "of the input tokens at random, and then predict those masked tokens. We refer to this procedure as a "
    "\"masked LM\" (MLM)."
)
NSP = (
    "Task #2: Next Sentence Prediction (NSP) Many important downstream tasks such as Question Answering (QA) "
    "and Natural Language Inference (NLI) are based on understanding the relationship between two sentences, "
    "which is not directly captured by language modeling. In order to train a model that understands sentence "
    "relationships, we pre-train for a binarized next sentence prediction task that can be trivially generated "
    "from any monolingual corpus."
)
INTRODUCTION = (
    "The masked language model randomly masks some of the tokens from the input, and the objective is to "
    "predict the original vocabulary id of the masked word based only on its context. In addition to the "
    "masked language model, we also use a \"next sentence prediction\" task that jointly pretrains text-pair "
    "representations."
)
COMPARISON = (
    "BERTBASE was chosen to have the same model size as OpenAI GPT for comparison purposes. Critically, "
    "however, the BERT Transformer uses bidirectional self-attention, while the GPT Transformer uses "
    "constrained self-attention where every token can only attend to context to its left."
)


def passage(label: str, text: str, page: int) -> Passage:
    return Passage(label, "bert.pdf", text, "file:///papers/bert.pdf", "BERT", ("3 BERT",), (page,), 0, len(text), (0,))


PASSAGES = [passage("S1", ARCHITECTURE, 3), passage("S2", MASKED_LM, 4), passage("S3", NSP, 4),
            passage("S4", INTRODUCTION, 2), passage("S5", COMPARISON, 3)]  # fmt: skip


def generation(answer: str, reasoning: str = "") -> Generation:
    return Generation(reasoning, answer, Usage(), "stop", "scripted")


class WordReader:
    """A stand-in entailment model: P(supported) follows the share of the hypothesis's key terms the
    premise holds (all: supported, most: between the thresholds, few: not supported)."""

    name = "word-reader"
    max_length = 256
    decision = Decision(supported=0.6, contradicted=0.6, not_supported=0.3)

    def probabilities(self, pairs):
        rows = []
        for premise, hypothesis in pairs:
            terms = key_terms(clean(hypothesis, source_mentions=True))
            share = len(terms & key_terms(clean(premise))) / len(terms) if terms else 0.0
            rows.append((0.9, 0.08, 0.02) if share >= 0.99 else (0.45, 0.5, 0.05) if share >= 0.6 else (0.05, 0.9, 0.05))
        return np.array(rows)


@pytest.fixture(scope="module")
def with_entailment():
    return AnswerVerifier(Settings(verify_judge="off"), None, entailment_model=WordReader())


@pytest.fixture(scope="module")
def with_similarity(embedder):
    return AnswerVerifier(Settings(verify_judge="off", verify_entailment=False), embedder)


@pytest.fixture(params=["entailment", "similarity"])
def verifier(request):
    return request.getfixturevalue(f"with_{request.param}")


def answer_checks(verdict):
    return [check for check in verdict.claims if check.origin == "answer"]


def test_a_number_its_cited_source_holds_is_not_credited_to_a_source_without_it(verifier):
    """"BERTBASE has 110M parameters [S1]" was reported as "cites S1, but only S5 supports it": S1 holds
    "Total Parameters=110M", S5 only names BERTBASE. A passage lacking the claim's number cannot support it."""
    verdict = verifier.verify("How many parameters does BERTBASE have?", PASSAGES,
                              generation("BERTBASE has 110M parameters [S1]."))
    (check,) = answer_checks(verdict)
    assert check.citation_issue is None
    assert check.evidence.label == "S1" and "110M" in check.evidence.text
    assert check.status in ("supported", "undecided")
    if verifier.entailment is not None:
        assert (check.status, check.judge) == ("supported", "entailment")


def test_a_claim_citing_two_sources_together_is_not_miscited(verifier):
    """"… masked LM and next sentence prediction [S2][S3]" joins what S2 and S3 say; it was marked
    miscited because S4 alone says both."""
    verdict = verifier.verify("How is BERT pre-trained?", PASSAGES, generation(
        "BERT is pre-trained with a masked language model and next sentence prediction [S2][S3]."))
    (check,) = answer_checks(verdict)
    assert check.citation_issue != "miscited"
    assert check.status != "unsupported"


def test_a_trace_step_naming_a_sources_topic_is_supported(verifier):
    """"S3 describes next sentence prediction" was unsupported although S3 opens "Task #2: Next Sentence
    Prediction (NSP)"."""
    verdict = verifier.verify("How is BERT pre-trained?", PASSAGES, generation(
        "BERT predicts masked tokens [S2].", reasoning="S3 describes next sentence prediction."))
    (step,) = [check for check in verdict.claims if check.origin == "trace"]
    assert (step.status, step.citations) == ("supported", ("S3",))
    assert "Next Sentence Prediction" in step.evidence.text
    assert not any("S3" in issue for issue in verdict.issues)


def test_a_topic_the_source_does_not_hold_is_judged_like_any_claim(with_entailment):
    verdict = with_entailment.verify(None, PASSAGES, generation(
        "BERT predicts masked tokens [S2].", reasoning="S3 describes the training corpus of GPT-2."))
    (step,) = [check for check in verdict.claims if check.origin == "trace"]
    assert step.status != "supported"


def test_a_claim_whose_only_citation_names_no_source_is_never_supported(verifier):
    """"It was released by OpenAI [S99]" was supported (similarity 0.77 with S5's "OpenAI GPT")."""
    verdict = verifier.verify("Who released BERT?", PASSAGES, generation("It was released by OpenAI [S99]."))
    (check,) = answer_checks(verdict)
    assert (check.status, check.judge, check.citation_issue) == ("unsupported", "citation", "unknown")
    assert any("S99" in note for note in check.notes)
    assert any("S99" in issue and "not given" in issue for issue in verdict.issues)
    assert verdict.label == "unsupported"
    # Even a claim the passages do support is not supported by a source that was not given.
    verdict = verifier.verify(None, PASSAGES, generation("BERTBASE has 110M parameters [S9]."))
    assert answer_checks(verdict)[0].status == "unsupported"


def test_a_claim_no_judge_decides_is_undecided_with_no_confidence(verifier):
    """Undecided claims were shown as "supported" with confidence 0.08–0.25 (a similarity)."""
    verdict = verifier.verify("What does BERT's architecture look like?", PASSAGES, generation(
        "BERT's encoder stacks Transformer blocks [S1]."))
    (check,) = answer_checks(verdict)
    if verifier.entailment is not None:
        assert check.status == "undecided"
    if check.status == "undecided":
        assert check.confidence == 0.0 and any("leans" in note for note in check.notes)
        assert verdict.label != "supported"
    assert check.judge != "none" or check.status not in ("supported", "contradicted")


def test_repeated_claims_count_once(verifier):
    """A looping answer's repeated sentences each counted again, raising its score."""
    once = verifier.verify(None, PASSAGES, generation(
        "BERTBASE has 110M parameters [S1]. It was released by OpenAI [S99]."))
    looping = verifier.verify(None, PASSAGES, generation(
        "BERTBASE has 110M parameters [S1]. " * 4 + "It was released by OpenAI [S99]."))
    assert looping.score == once.score and looping.label == once.label
    checks = answer_checks(looping)
    assert [c.kind for c in checks] == ["factual", "repeated", "repeated", "repeated", "factual"]
    assert all(c.status == checks[0].status for c in checks[1:4])
    assert any("repeats itself" in issue for issue in looping.issues)


def test_restating_the_question_is_not_a_supported_fact(verifier):
    """"BERT uses pre-training tasks" answers "Which pre-training tasks does BERT use?" with its own words."""
    verdict = verifier.verify("Which pre-training tasks does BERT use?", PASSAGES,
                              generation("BERT uses pre-training tasks [S2]."))
    (check,) = answer_checks(verdict)
    assert (check.kind, check.status) == ("restatement", "not_checkable")
    assert verdict.label == "unsupported" and verdict.score == 0.0
    # A restatement beside a real answer does not count either way.
    verdict = verifier.verify("Which pre-training tasks does BERT use?", PASSAGES, generation(
        "BERT uses pre-training tasks [S2]. BERTBASE has 110M parameters [S1]."))
    assert [c.kind for c in answer_checks(verdict)] == ["restatement", "factual"]


def test_a_yes_no_question_restated_as_an_answer_is_checked(with_entailment):
    verdict = with_entailment.verify("Is BERT's encoder bidirectional?", PASSAGES,
                                     generation("BERT's encoder is bidirectional [S1]."))
    (check,) = answer_checks(verdict)
    assert check.kind == "factual" and check.status != "not_checkable"


def test_a_short_answer_naming_what_the_question_mentions_is_checked(with_entailment):
    question = "BERT was compared with a model of the same size, OpenAI GPT: which company released that model?"
    verdict = with_entailment.verify(question, PASSAGES, generation("OpenAI [S5]."))
    (check,) = answer_checks(verdict)
    assert check.kind == "factual" and check.status != "not_checkable"
