"""The verdict rule (``rag.verify.verdict_rule``): an answer's label and score from its judged claims.

Pure arithmetic over claim results: no embedder, no model (the last test runs the verifier with the
exact checks alone, to see that it labels by the settings' thresholds). Scores near a threshold are built
from confidences that are exact binary fractions, so that "just below", "at" and "just above" mean what
they say in floating point."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, strategies as st

from rag.settings import Settings
from rag.types import Generation, Passage, Usage
from rag.verify.verdict_rule import (
    ABSTENTION_SCORE, MISCITED_WEIGHT, NOT_SUPPORTED, NOTHING_TO_CHECK, UNCITED_WEIGHT, ClaimResult, rate_answer,
    weighted_support,
)  # fmt: skip
from rag.verify.verifier import AnswerVerifier

DEFAULTS = Settings()
EPSILON = 2.0**-20  # a confidence step exact in binary: support moves by half of it


def rate(claims, *, abstains=False, require_citations=True, supported_at=None, unsupported_below=None):
    return rate_answer(
        claims, abstains=abstains, require_citations=require_citations,
        supported_at=DEFAULTS.verify_supported_score if supported_at is None else supported_at,
        unsupported_below=DEFAULTS.verify_unsupported_score if unsupported_below is None else unsupported_below,
    )  # fmt: skip


def supported(confidence=1.0, citation_issue=None) -> ClaimResult:
    return ClaimResult("supported", confidence, citation_issue=citation_issue)


def unsupported(confidence=1.0) -> ClaimResult:
    return ClaimResult("unsupported", confidence)


def contradicted(confidence=1.0) -> ClaimResult:
    return ClaimResult("contradicted", confidence)


def undecided(lean: str, confidence: float) -> ClaimResult:
    return ClaimResult("undecided", confidence, lean)


# -- every label ---------------------------------------------------------------------------------------


def test_an_answer_whose_claims_are_all_firmly_supported_is_supported():
    rating = rate([supported(), supported()])
    assert (rating.label, rating.score, rating.issue) == ("supported", 1.0, None)


def test_an_answer_between_the_thresholds_is_partially_supported():
    rating = rate([supported(), unsupported()])  # one right, one wrong: a mean of 0.5
    assert rating.label == "partially_supported" and rating.issue is None


def test_an_answer_whose_claims_are_all_unsupported_is_unsupported_and_says_why():
    rating = rate([unsupported(), unsupported(0.5)])
    assert rating.label == "unsupported" and rating.score < DEFAULTS.verify_unsupported_score
    assert rating.issue == NOT_SUPPORTED


def test_an_abstention_with_nothing_to_check_is_abstained():
    rating = rate([], abstains=True)
    assert (rating.label, rating.score, rating.issue) == ("abstained", ABSTENTION_SCORE, None)


def test_an_answer_with_no_claim_to_check_is_unsupported_with_score_0():
    rating = rate([])
    assert (rating.label, rating.score, rating.issue) == ("unsupported", 0.0, NOTHING_TO_CHECK)


def test_an_answer_that_abstains_beside_checkable_claims_is_judged_by_them():
    assert rate([supported()], abstains=True).label == "supported"
    assert rate([unsupported()], abstains=True).label == "unsupported"


# -- the thresholds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "confidence, label",
    [(0.5 - EPSILON, "partially_supported"), (0.5, "supported"), (0.5 + EPSILON, "supported")],
    ids=["just below", "at", "just above"],
)
def test_the_supported_threshold_is_inclusive(confidence, label):
    # support 0.5 + confidence/2: 0.75 at confidence 0.5
    assert rate([supported(confidence)], supported_at=0.75).label == label


@pytest.mark.parametrize(
    "claim, label",
    [(unsupported(EPSILON), "unsupported"), (supported(0.0), "partially_supported"),
     (supported(EPSILON), "partially_supported")],
    ids=["just below", "at", "just above"],
)  # fmt: skip
def test_the_unsupported_threshold_is_exclusive(claim, label):
    assert rate([claim], unsupported_below=0.5).label == label


def test_with_the_default_thresholds_of_the_settings():
    at_supported = (DEFAULTS.verify_supported_score - 0.5) * 2  # the confidence whose support is the threshold
    assert rate([supported(at_supported + 0.01)]).label == "supported"
    assert rate([supported(at_supported - 0.01)]).label == "partially_supported"
    assert rate([unsupported(0.01)]).label == "unsupported"  # just under 0.5


def test_with_both_thresholds_equal_a_score_at_them_is_supported():
    assert rate([supported(0.5)], supported_at=0.75, unsupported_below=0.75).label == "supported"
    assert rate([supported(0.5 - EPSILON)], supported_at=0.75, unsupported_below=0.75).label == "unsupported"


def test_the_label_reads_the_exact_score_not_the_rounded_one():
    # 0.75 − 2⁻²¹ rounds to 0.75 but is below a threshold of 0.75
    rating = rate([supported(0.5 - EPSILON)], supported_at=0.75)
    assert rating.score == 0.75 and rating.label == "partially_supported"


# -- how claims weigh ------------------------------------------------------------------------------------


def test_the_score_is_the_mean_support_of_the_claims():
    claims = [supported(1.0), supported(0.5), unsupported(0.5)]
    expected = sum(0.5 + 0.5 * c.confidence * (1 if c.status == "supported" else -1) for c in claims) / 3
    assert rate(claims).score == round(expected, 4)


def test_a_contradicted_claim_dominates_the_mean():
    nine_right = [supported()] * 9
    with_a_gap = rate([*nine_right, unsupported()])
    with_a_contradiction = rate([*nine_right, contradicted()])
    # the same support (0) for the tenth claim, but a contradiction pulls the score towards it
    assert with_a_gap.label == "supported"
    assert with_a_contradiction.score < with_a_gap.score
    assert with_a_contradiction.score == round(0.5 * (with_a_gap.score + 0.0), 4)
    assert with_a_contradiction.label == "unsupported"


def test_a_contradiction_keeps_the_answer_from_being_supported_whatever_its_score():
    claims = [*[supported()] * 99, contradicted(0.0)]  # a hesitant contradiction: support 0.5
    rating = rate(claims, supported_at=0.6)
    assert rating.score >= 0.6 and rating.label == "partially_supported"


def test_an_undecided_claim_counts_by_its_lean():
    leaning_for = rate([undecided("supported", 0.4)])
    leaning_against = rate([undecided("unsupported", 0.4)])
    assert leaning_against.score < 0.5 < leaning_for.score
    # an undecided claim is never confident enough to make an answer supported on its own
    assert leaning_for.label == "partially_supported"


def test_an_undecided_claim_is_no_contradiction():
    assert rate([supported(), undecided("unsupported", 0.4)]).score == round((1.0 + 0.3) / 2, 4)


def test_a_miscited_claim_counts_less_citations_required_or_not():
    plain, miscited = supported(1.0), supported(1.0, "miscited")
    for required in (True, False):
        assert weighted_support(miscited, required) == weighted_support(plain, required) * MISCITED_WEIGHT
    assert rate([miscited]).score == MISCITED_WEIGHT


@pytest.mark.parametrize("issue", ["uncited", "unknown"])
def test_an_uncited_claim_counts_less_only_when_citations_are_required(issue):
    claim = supported(1.0, issue)
    assert rate([claim], require_citations=True).score == UNCITED_WEIGHT
    assert rate([claim], require_citations=False).score == 1.0


def test_a_miscited_claim_weighs_less_than_an_uncited_one():
    assert rate([supported(1.0, "miscited")]).score < rate([supported(1.0, "uncited")]).score < 1.0


# -- properties -------------------------------------------------------------------------------------------

STATUSES = st.sampled_from(["supported", "contradicted", "unsupported", "undecided"])
CLAIMS = st.lists(
    st.builds(ClaimResult, STATUSES, st.floats(0, 1), st.sampled_from(["supported", "unsupported"]),
              st.sampled_from([None, "miscited", "uncited", "unknown"])),
    min_size=1, max_size=12,
)  # fmt: skip


@given(CLAIMS, st.booleans(), st.randoms(use_true_random=False))
def test_the_rating_is_a_score_in_0_1_and_ignores_the_claims_order(claims, required, rng: random.Random):
    rating = rate(claims, require_citations=required)
    shuffled = list(claims)
    rng.shuffle(shuffled)
    assert 0.0 <= rating.score <= 1.0 and rating.score == round(rating.score, 4)
    assert rate(shuffled, require_citations=required) == rating


@given(CLAIMS)
def test_a_contradicted_answer_is_never_supported(claims):
    assert rate([*claims, contradicted(0.0)], supported_at=0.0).label != "supported"


@given(CLAIMS, st.floats(0, 1))
def test_one_more_firmly_supported_claim_never_lowers_an_uncontradicted_score(claims, confidence):
    uncontradicted = [claim for claim in claims if claim.status != "contradicted"] or [supported(confidence)]
    assert rate([*uncontradicted, supported()]).score >= rate(uncontradicted).score


# -- the verifier uses the rule with the settings' thresholds ---------------------------------------------

PASSAGE = Passage(
    label="S1", doc_id="doc-S1", text="The Kaplan turbine of Unit 3 runs at 187.5 rpm in normal operation.",
    source="file:///docs/S1.pdf", title="Northwind", section_path=("Operations",), pages=(3,), char_start=0,
    char_end=68, chunk_indexes=(0,),
)  # fmt: skip


def exact_only(**thresholds) -> AnswerVerifier:
    """Only the exact judge: no embedder, no entailment model, no language model."""
    settings = Settings(verify_judge="off", verify_entailment=False, **thresholds)
    return AnswerVerifier(settings, None, layers=("exact",))


def test_the_verifier_labels_by_the_thresholds_in_its_settings():
    # uncited (citations required): a score under 1, so that thresholds can sit on either side of it
    generation = Generation("", "Unit 3 runs at 187.5 rpm.", Usage(), "stop", "local")
    question = "How fast does Unit 3 run?"
    score = exact_only().verify(question, [PASSAGE], generation).score
    assert 0.5 < score < 0.99

    def label(supported_at: float, unsupported_below: float) -> str:
        verifier = exact_only(verify_supported_score=supported_at, verify_unsupported_score=unsupported_below)
        return verifier.verify(question, [PASSAGE], generation).label

    assert label(score - 0.001, 0.0) == "supported"
    assert label(score + 0.001, 0.0) == "partially_supported"
    assert label(1.0, score + 0.001) == "unsupported"
