"""The follow-up rewrite rule (rag.followup): a question that refers back is rewritten for retrieval
from the previous turn; a self-contained question, or one with nothing before it, is left alone."""

from __future__ import annotations

from rag.followup import list_items, refers_back, rewrite_follow_up


def turn(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


ALARMS = turn("Which alarms does the runbook cover?",
              "1. TURB-OVERSPEED [S1]\n2. RESERVOIR-HIGH [S2]\n3. HV-BREAKER-TRIP [S3]\n4. TELEMETRY-STALE")


def test_a_pronoun_gets_the_previous_turns_subject():
    history = turn("Which unit is the Kaplan unit?", "Unit 3 is the Kaplan unit, rated at 6 MW [S1].")
    rewritten = rewrite_follow_up("At what speed does it trip?", history)
    assert rewritten.startswith("At what speed does it trip? (")
    assert "Kaplan" in rewritten and "3" in rewritten
    assert "[S1]" not in rewritten  # citations are not search terms


def test_an_ordinal_picks_the_item_of_the_previous_answers_list():
    assert rewrite_follow_up("What do I do for the second one?", ALARMS) == "What do I do for RESERVOIR-HIGH?"
    assert rewrite_follow_up("And the last?", ALARMS) == "And TELEMETRY-STALE?"
    enumeration = turn("What changed?", "Thresholds are per unit, SMS paging was removed, and RTUs need firmware 5.4.")
    assert "SMS paging was removed" in rewrite_follow_up("Tell me about the second one", enumeration)


def test_an_ordinal_past_the_list_falls_back_to_the_context_words():
    rewritten = rewrite_follow_up("And the sixth one?", ALARMS)
    assert rewritten.startswith("And the sixth one? (") and "alarms" in rewritten


def test_self_contained_questions_and_first_questions_stay_as_asked():
    assert rewrite_follow_up("Who owns the runbook?", ALARMS) == "Who owns the runbook?"
    assert rewrite_follow_up("At what speed does it trip?", []) == "At what speed does it trip?"
    assert not refers_back("What is the on-call allowance on a Saturday?")
    assert refers_back("And on a weekday?") and refers_back("What about Unit 3?") and refers_back("Is it safe?")


def test_list_items():
    assert list_items("- a\n- b\n- c") == ["a", "b", "c"]
    assert list_items("The units are Francis, Kaplan and Pelton [S2].") == ["Francis", "Kaplan", "Pelton"]
    assert list_items("Just one thing.") == []
