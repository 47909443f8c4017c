"""The cheap judges on one claim (``rag.verify.judging``): exact checks first, then similarity.

Candidates are built by hand with the similarity a judge would see, so no embedder is loaded: each test
fixes what the evidence finder would have found and asserts what the judges make of it."""

from __future__ import annotations

import math

import pytest

from rag.types import Passage
from rag.verify.evidence import Candidate, Span
from rag.verify.judging import (
    EXACT_DECISIVE, NO_PASSAGE, SEMANTIC_LEAN, SEMANTIC_SUPPORTED, SEMANTIC_UNSUPPORTED, exact_results, judge_claim,
    semantic_confidence,
)  # fmt: skip

EXACT = ("exact",)
SEMANTIC = ("semantic",)
CHEAP = ("exact", "semantic")
PARAPHRASE = "Bathing in the lake is not allowed."  # nothing an exact check can read: only similarity tells


def passage(label: str, text: str) -> Passage:
    return Passage(label=label, doc_id=f"doc-{label}", text=text, source=f"file:///docs/{label}.pdf",
                   title="Northwind", section_path=(), pages=(1,), char_start=0, char_end=len(text),
                   chunk_indexes=(0,))  # fmt: skip


def candidate(label: str, text: str, similarity: float = 0.0, overlap: float = 0.5) -> Candidate:
    """The passage read as one span, with the similarity the embedder would have given it."""
    return Candidate(passage(label, text), Span(0, len(text), text, frozenset()), overlap, similarity)


PRESSURE = "The pump runs at 42 kPa in normal operation."
INSTALLED = "The pump was installed in March 2019 by the night crew."
SWIMMING = "Swimming in the reservoir is forbidden."


# -- exact, decisive --------------------------------------------------------------------------------------


def test_without_a_passage_a_claim_is_unsupported():
    judgement = judge_claim("The pump runs at 42 kPa.", [])
    assert (judgement.status, judgement.candidate) == ("unsupported", None)
    assert NO_PASSAGE in judgement.notes


def test_a_claim_a_passage_states_word_for_word_is_supported_by_that_passage():
    judgement = judge_claim("The pump runs at 42 kPa.",
                            [candidate("S1", INSTALLED), candidate("S2", PRESSURE), candidate("S3", SWIMMING)], EXACT)
    assert (judgement.status, judgement.judge, judgement.candidate.passage.label) == ("supported", "exact", "S2")
    assert judgement.confidence >= EXACT_DECISIVE


def test_a_value_the_passage_gives_otherwise_is_contradicted_and_names_the_passage():
    judgement = judge_claim("The pump runs at 50 kPa.", [candidate("S1", PRESSURE), candidate("S2", INSTALLED)], EXACT)
    assert (judgement.status, judgement.judge, judgement.candidate.passage.label) == ("contradicted", "exact", "S1")
    assert any(note.startswith("S1:") and "42 kPa" in note for note in judgement.notes)


def test_an_item_in_no_passage_is_unsupported_with_the_missing_item_named():
    judgement = judge_claim("The pump was serviced in 2017.",
                            [candidate("S1", PRESSURE), candidate("S2", SWIMMING)], EXACT)
    assert (judgement.status, judgement.judge) == ("unsupported", "exact")
    assert any("in no source" in note and "2017" in note for note in judgement.notes)


def test_a_decisive_support_outweighs_a_weaker_conflict_elsewhere():
    judgement = judge_claim("The pump runs at 42 kPa.",
                            [candidate("S1", "The spare pump runs at 50 kPa."), candidate("S2", PRESSURE)], EXACT)
    assert (judgement.status, judgement.candidate.passage.label) == ("supported", "S2")


# -- passages cited together -------------------------------------------------------------------------------

PUMP_RUNS = "The feed pump runs at 42 kPa and 1450 rpm."
PUMP_HISTORY = "The feed pump was installed in March 2019 and serviced in May 2021."
JOINED = "The feed pump runs at 42 kPa and 1450 rpm; it was installed in March 2019 and serviced in May 2021."


def test_a_claim_joining_two_cited_passages_is_supported_when_read_together():
    both = [candidate("S1", PUMP_RUNS), candidate("S2", PUMP_HISTORY)]
    alone = judge_claim(JOINED, both, EXACT, joint=False)
    together = judge_claim(JOINED, both, EXACT, joint=True)
    assert alone.status == "unsupported"  # each passage lacks half the items
    assert (together.status, together.judge) == ("supported", "exact")
    assert any(note.startswith("S1 and S2 together") for note in together.notes)


def test_passages_that_lack_an_item_are_ruled_out_but_the_joined_text_is_not():
    _, _, ruled_out = exact_results(JOINED, [candidate("S1", PUMP_RUNS), candidate("S2", PUMP_HISTORY)], joint=True)
    assert ruled_out == {("S1",), ("S2",)}


# -- what rules a passage out ------------------------------------------------------------------------------

NAMED = "Acme Corp installed the pump in March 2019."  # a name the passage may say otherwise ("the crew")


def test_a_passage_lacking_only_a_name_is_not_ruled_out():
    _, _, ruled_out = exact_results(NAMED, [candidate("S1", PRESSURE), candidate("S2", INSTALLED)])
    assert ("S1",) in ruled_out and ("S2",) not in ruled_out  # S1 lacks the date as well


def test_similarity_never_takes_a_ruled_out_passage_as_the_support():
    claim = "The pump's pressure is 42 kPa during winter maintenance."
    holds_the_number = candidate("S1", "Measured at the inlet, pressure reached 42 kPa.", similarity=0.8)
    closer_in_words = candidate("S2", "During winter maintenance the pump's pressure is lowered.", similarity=0.95)
    with_exact = judge_claim(claim, [holds_the_number, closer_in_words], CHEAP)
    similarity_alone = judge_claim(claim, [holds_the_number, closer_in_words], SEMANTIC)
    assert (with_exact.status, with_exact.candidate.passage.label) == ("supported", "S1")
    assert (similarity_alone.status, similarity_alone.candidate.passage.label) == ("supported", "S2")


def test_with_missing_decides_off_only_a_decisive_missing_item_decides():
    installed = [candidate("S1", INSTALLED)]
    assert exact_results(NAMED, installed, missing_decides=True)[0].status == "unsupported"
    assert exact_results(NAMED, installed, missing_decides=False)[0] is None  # a name without a rival
    rival_year = exact_results("The pump was installed in 2017.", installed, missing_decides=False)[0]
    assert rival_year is not None and rival_year.status == "unsupported"  # 2017 against the passage's 2019


# -- similarity ------------------------------------------------------------------------------------------


def test_layers_limit_which_judges_decide():
    wrong_number = [candidate("S1", PRESSURE, similarity=0.95)]
    assert judge_claim("The pump runs at 50 kPa.", wrong_number, CHEAP).status == "contradicted"
    by_similarity = judge_claim("The pump runs at 50 kPa.", wrong_number, SEMANTIC)
    assert (by_similarity.status, by_similarity.judge) == ("supported", "semantic")


@pytest.mark.parametrize(
    "similarity, status",
    [(math.nextafter(SEMANTIC_SUPPORTED, 0), "undecided"), (SEMANTIC_SUPPORTED, "supported"),
     (math.nextafter(SEMANTIC_SUPPORTED, 1), "supported")],
    ids=["just below", "at", "just above"],
)  # fmt: skip
def test_the_supported_similarity_threshold_is_inclusive(similarity, status):
    judgement = judge_claim(PARAPHRASE, [candidate("S1", SWIMMING, similarity)], CHEAP)
    assert judgement.status == status
    if status == "supported":
        assert (judgement.judge, judgement.confidence) == ("semantic", semantic_confidence(similarity))


@pytest.mark.parametrize(
    "similarity, status",
    [(math.nextafter(SEMANTIC_UNSUPPORTED, 0), "unsupported"), (SEMANTIC_UNSUPPORTED, "undecided"),
     (math.nextafter(SEMANTIC_UNSUPPORTED, 1), "undecided")],
    ids=["just below", "at", "just above"],
)  # fmt: skip
def test_the_unsupported_similarity_threshold_is_exclusive(similarity, status):
    assert judge_claim(PARAPHRASE, [candidate("S1", SWIMMING, similarity)], CHEAP).status == status


@pytest.mark.parametrize("similarity", [SEMANTIC_UNSUPPORTED + 0.01, SEMANTIC_LEAN - 0.01, SEMANTIC_LEAN + 0.01,
                                        SEMANTIC_SUPPORTED - 0.01])
def test_between_the_thresholds_a_claim_is_undecided_leaning_by_similarity(similarity):
    judgement = judge_claim(PARAPHRASE, [candidate("S1", SWIMMING, similarity)], CHEAP)
    assert (judgement.status, judgement.judge) == ("undecided", "semantic")
    assert judgement.lean == ("supported" if similarity >= SEMANTIC_LEAN else "unsupported")
    assert 0 < judgement.confidence <= 0.4  # an undecided claim's lean is never a firm verdict


def test_a_span_that_was_not_embedded_decides_nothing_by_similarity():
    judgement = judge_claim(PARAPHRASE, [candidate("S1", SWIMMING, similarity=0.0)], CHEAP)
    assert (judgement.status, judgement.judge) == ("undecided", "none")


def test_the_closest_span_in_meaning_is_the_evidence():
    # S1 ranks first on its words; S2 is the one close in meaning, and the one similarity judges by
    ranked_first = candidate("S1", PRESSURE, similarity=0.2, overlap=1.0)
    closest = candidate("S2", SWIMMING, similarity=0.8, overlap=0.2)
    judgement = judge_claim(PARAPHRASE, [ranked_first, closest], CHEAP)
    assert (judgement.status, judgement.candidate.passage.label) == ("supported", "S2")


def test_without_similarity_a_weak_exact_support_is_a_support():
    weak = candidate("S1", "Measured at the inlet, pressure reached 42 kPa.")
    judgement = judge_claim("The pump's pressure is 42 kPa.", [weak], EXACT)
    assert (judgement.status, judgement.judge) == ("supported", "exact")
    assert judgement.confidence < EXACT_DECISIVE  # not decisive: with similarity on, it only leans


def test_with_nothing_to_check_and_no_similarity_a_claim_is_undecided_with_little_confidence():
    judgement = judge_claim(PARAPHRASE, [candidate("S1", SWIMMING)], EXACT)
    assert (judgement.status, judgement.judge, judgement.lean) == ("undecided", "none", "unsupported")
    assert judgement.confidence <= 0.4


def test_semantic_confidence_grows_with_the_distance_from_the_lean_point_and_is_capped():
    assert semantic_confidence(SEMANTIC_LEAN) == 0.5
    assert semantic_confidence(SEMANTIC_LEAN + 0.1) == semantic_confidence(SEMANTIC_LEAN - 0.1) > 0.5
    assert semantic_confidence(SEMANTIC_LEAN + 0.2) > semantic_confidence(SEMANTIC_LEAN + 0.1)
    assert semantic_confidence(1.0) == semantic_confidence(0.0) == 0.9
