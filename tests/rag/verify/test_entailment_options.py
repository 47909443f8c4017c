"""The entailment layer's two wider readings (off by default; docs/verifier.md measures both) and the
model measured alone: a missing name left to the model (``missing_decides=False``), distinctive sentences
of long passages (``extra_sentences``, ``rag.verify.reading``), and ``layers`` without "exact".

A scripted stand-in model (rules on words) pins the verifier's rules, not a trained model's quality."""

from __future__ import annotations

import numpy as np
import pytest

from rag.settings import Settings
from rag.types import Generation, Passage, Usage
from rag.verify.cues import key_terms
from rag.verify.entailment import Decision
from rag.verify.entailment_judging import EXTRA_TOKENS_PER_ANSWER, EXACT_VETO
from rag.verify.items import clean
from rag.verify.reading import distinctive_sentences
from rag.verify.verifier import AnswerVerifier

SUPPORTED = (0.9, 0.08, 0.02)
LUKEWARM = (0.7, 0.25, 0.05)  # supported by the model's thresholds, below EXACT_VETO
NOT_SUPPORTED = (0.05, 0.9, 0.05)
CONTRADICTED = (0.03, 0.07, 0.9)

BIRDS = ("In birds, gynandromorph chickens are genuine male:female chimaeras. Our study shows that avian "
         "somatic cells possess an inherent sex identity. The film of the study was shot in 2001.")
# A long abstract: its topic ("pharmacist", "rounds") in many sentences, the finding in one.
ABSTRACT = " ".join([
    "Pharmacist participation on physician rounds and adverse drug events in the intensive care unit.",
    "OBJECTIVE To measure the effect of pharmacist participation on medical rounds on adverse drug events.",
    "DESIGN A before-after comparison of pharmacist participation on rounds in one unit and a control unit.",
    "SETTING The medical intensive care unit of a large urban teaching hospital, with pharmacist rounds.",
    "PATIENTS Seventy-five patients randomly selected from each of three groups were studied on rounds.",
    "INTERVENTION A senior clinician joined the team and stayed for consultation in the morning.",
    "RESULTS The rate of preventable ordering events decreased by 66 percent after the change in staffing.",
    "CONCLUSIONS The new staffing was associated with a substantially lower rate.",
])


def passage(label: str, text: str) -> Passage:
    return Passage(label, f"doc-{label}", text, f"file:///docs/{label}.pdf", "Papers", (), (1,), 0, len(text), (0,))


def answer(text: str) -> Generation:
    return Generation("", text, Usage(), "stop", "local")


class ScriptedModel:
    """The first (hypothesis words, premise words, row) rule whose words are all in the pair; else
    ``default``. Records every pair read."""

    name = "scripted"
    max_length = 256

    def __init__(self, rules=(), default=NOT_SUPPORTED, decision=Decision(0.6, 0.6, 0.3)):
        self.rules, self.default, self.decision = list(rules), default, decision
        self.pairs: list[tuple[str, str]] = []

    def probabilities(self, pairs):
        self.pairs += pairs
        return np.array([next((row for claim, premise_words, row in self.rules
                               if all(w in h for w in claim) and all(w in p for w in premise_words)), self.default)
                         for p, h in pairs], dtype=np.float32)


def verify(model, passages, text, **options):
    verifier = AnswerVerifier(Settings(verify_judge="off"), None, entailment_model=model, **options)
    verdict = verifier.verify(None, passages, answer(text), require_citations=False)
    return [check for check in verdict.claims if check.origin == "answer"]


# -- a name in no source ------------------------------------------------------------------------------

CLAIM = "Cell autonomous sex determination occurs in Galliformes."


def test_by_default_a_name_in_no_source_decides_before_the_model_reads():
    model = ScriptedModel(default=SUPPORTED)  # a model that would support anything
    (check,) = verify(model, [passage("S1", BIRDS)], CLAIM)
    assert (check.status, check.judge) == ("unsupported", "exact") and model.pairs == []


def test_left_to_the_model_a_confident_support_outweighs_a_missing_name():
    model = ScriptedModel([(("Galliformes",), ("avian",), SUPPORTED)])
    (check,) = verify(model, [passage("S1", BIRDS)], CLAIM, missing_decides=False)
    assert (check.status, check.judge) == ("supported", "entailment")
    assert any("Galliformes" in note for note in check.notes)  # the exact finding stays visible


def test_left_to_the_model_a_lukewarm_support_does_not():
    assert LUKEWARM[0] < EXACT_VETO
    model = ScriptedModel([(("Galliformes",), ("avian",), LUKEWARM)])
    (check,) = verify(model, [passage("S1", BIRDS)], CLAIM, missing_decides=False)
    assert (check.status, check.judge) == ("unsupported", "exact") and model.pairs
    assert check.probabilities["supported"] == pytest.approx(0.7)  # the model's reading, shown
    contradicting = ScriptedModel([(("Galliformes",), (), CONTRADICTED)])
    (check,) = verify(contradicting, [passage("S1", BIRDS)], CLAIM, missing_decides=False)
    assert (check.status, check.judge) == ("contradicted", "entailment")


def test_left_to_the_model_a_number_against_a_rival_and_a_quote_still_decide():
    model = ScriptedModel(default=SUPPORTED)
    rival, quote = verify(model, [passage("S1", BIRDS)],
                          'The film of the study was shot in 1998. The study calls the cells "sexless".',
                          missing_decides=False)
    assert (rival.status, rival.judge) == ("unsupported", "exact") and any("2001" in n for n in rival.notes)
    assert (quote.status, quote.judge) == ("unsupported", "exact")
    assert model.pairs == []


# -- distinctive sentences ----------------------------------------------------------------------------

FINDING = "Pharmacist participation on rounds cut preventable ordering errors."


def test_distinctive_sentences_weigh_down_the_topic_words():
    terms = key_terms(clean(FINDING))
    (best,) = distinctive_sentences(passage("S1", ABSTRACT), terms, (), 1)
    assert best.span.text.startswith("RESULTS")  # "pharmacist", "rounds" are in every sentence
    read = [(best.span.start, best.span.end)]
    assert all(c.span.start != best.span.start for c in distinctive_sentences(passage("S1", ABSTRACT), terms, read, 3))


def test_a_wider_reading_reads_the_result_sentence_the_top_spans_miss():
    model = ScriptedModel([(("cut",), ("RESULTS",), SUPPORTED)])
    (narrow,) = verify(model, [passage("S1", ABSTRACT)], FINDING)
    assert narrow.status != "supported" and not any(p.startswith("RESULTS") for p, _ in model.pairs)
    model.pairs.clear()
    (wide,) = verify(model, [passage("S1", ABSTRACT)], FINDING, extra_sentences=2)
    assert (wide.status, wide.judge) == ("supported", "entailment") and wide.evidence.text.startswith("RESULTS")
    assert len(model.pairs) <= 2 + 2  # its top spans, then two sentences


def test_the_wider_reading_stays_within_the_answers_token_budget():
    model = ScriptedModel()
    claims = " ".join(f"Pharmacist team {n} reduces ordering events on the rounds of unit {n}." for n in range(12))
    verify(model, [passage("S1", ABSTRACT)], claims, extra_sentences=2)
    narrow = ScriptedModel()
    verify(narrow, [passage("S1", ABSTRACT)], claims)
    extra = [pair for pair in model.pairs if pair not in narrow.pairs]
    assert extra and sum((len(p) + len(h)) / 3.5 + 3 for p, h in extra) <= EXTRA_TOKENS_PER_ANSWER


def test_extra_sentences_must_not_be_negative():
    with pytest.raises(ValueError, match="extra_sentences -1"):
        AnswerVerifier(Settings(verify_judge="off"), None, entailment_model=ScriptedModel(), extra_sentences=-1)


# -- the model alone -----------------------------------------------------------------------------------


def test_without_the_exact_layer_the_model_judges_every_claim():
    model = ScriptedModel(default=SUPPORTED)
    (check,) = verify(model, [passage("S1", BIRDS)], "The film of the study was shot in 1998.",
                      layers=("entailment",))
    assert (check.status, check.judge) == ("supported", "entailment") and model.pairs
