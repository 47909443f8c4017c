"""Claim splitting: sentences, citations per claim, conjunctions, kinds, statements about sources."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.citations import CITATION_GROUP, cited_labels
from rag.prompts import ABSTAIN_PHRASE
from rag.verify.claims import (
    LIST_MARKER,
    Claim,
    classify,
    mentioned_labels,
    sentence_spans,
    split_claims,
    statements_about_sources,
)


def texts(text: str, origin: str = "answer") -> list[str]:
    return [c.text for c in split_claims(text, origin)]


def one(text: str, origin: str = "answer") -> Claim:
    claims = split_claims(text, origin)
    assert len(claims) == 1, [c.text for c in claims]
    return claims[0]


# ---- sentences and abbreviations -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith measured 3.14 bar in the lab.",
        "Some pumps, e.g. the main one, run at 300 rpm.",
        "Valves, i.e. the relief ones, open at 42 kPa.",
        "See No. 5 for the pressure of 42 kPa.",
        "The pressure is shown in Fig. 3 and Table 2.",
        "The U.S. Army bought 5 pumps.",
        "Prof. J. Smith wrote the report on p. 12.",
        "The pump runs at approx. 300 rpm.",
        "It costs about 3.5 million EUR vs. 4 million EUR last year.",
        "Pi is 3.14159 and e is 2.71828.",
        "Mr. Jones met Mrs. Smith at St. Mary's.",
        "The valve opens at 42 kPa (see Sec. 4.2 of the manual).",
        "The meeting was on Jan. 5 in the main hall.",
        "Smith et al. reported 42 kPa.",
    ],
)
def test_abbreviations_decimals_and_numbers_do_not_split(text):
    assert texts(text) == [text]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The pump runs at 300 rpm. The valve opens at 42 kPa.", ["The pump runs at 300 rpm.", "The valve opens at 42 kPa."]),
        ("It is made in the U.S. The valve is German.", ["It is made in the U.S.", "The valve is German."]),
        ("Pumps, valves etc. The list goes on.", ["Pumps, valves etc.", "The list goes on."]),
        ("The value is 3.14. Next is 2.71.", ["The value is 3.14.", "Next is 2.71."]),
        ("It failed! Why? Nobody knows.", ["It failed!", "Why?", "Nobody knows."]),
        ("The pump stopped... Then it restarted.", ["The pump stopped...", "Then it restarted."]),
        ("The test ends at 5 p.m. The report follows.", ["The test ends at 5 p.m.", "The report follows."]),
        ('He said "stop." Then the pump stopped.', ['He said "stop."', "Then the pump stopped."]),
        ("The valve opens at 42 kPa. 5 pumps run all day.", ["The valve opens at 42 kPa.", "5 pumps run all day."]),
    ],
)
def test_sentence_boundaries(text, expected):
    assert texts(text) == expected


def test_lower_case_after_a_period_does_not_split():
    assert texts("The valve opens at approx 42 kPa. in normal use.") == ["The valve opens at approx 42 kPa. in normal use."]


# ---- citations -----------------------------------------------------------------------------------


def test_citation_before_the_period_belongs_to_its_sentence():
    claims = split_claims("The valve opens at 42 kPa [S2]. The pump runs at 300 rpm [S1].", "answer")
    assert [(c.text, c.citations) for c in claims] == [
        ("The valve opens at 42 kPa [S2].", ("S2",)),
        ("The pump runs at 300 rpm [S1].", ("S1",)),
    ]


def test_citation_after_the_period_belongs_to_the_sentence_before_it():
    claims = split_claims("The valve opens at 42 kPa. [S2] The pump runs at 300 rpm. [S1][S3]", "answer")
    assert [(c.text, c.citations) for c in claims] == [
        ("The valve opens at 42 kPa. [S2]", ("S2",)),
        ("The pump runs at 300 rpm. [S1][S3]", ("S1", "S3")),
    ]


def test_citation_on_its_own_line_joins_the_claim_above():
    text = "The valve opens at 42 kPa.\n[S2]\nThe pump runs at 300 rpm."
    claims = split_claims(text, "answer")
    assert [c.citations for c in claims] == [("S2",), ()]
    assert claims[0].text == "The valve opens at 42 kPa.\n[S2]"


def test_citation_groups_and_ranges():
    assert one("The pump runs at 300 rpm [S1, S3].").citations == ("S1", "S3")
    assert one("The pump runs at 300 rpm [S1-S3].").citations == ("S1", "S2", "S3")
    assert one("The pump runs at 300 rpm [S4][S2].").citations == ("S4", "S2")
    assert one("The pump runs at 300 rpm.").citations == ()


def test_plain_drops_citation_markers():
    claim = one("The valve opens at 42 kPa [S2] [S3].")
    assert claim.plain == "The valve opens at 42 kPa."
    assert claim.text == "The valve opens at 42 kPa [S2] [S3]."


def test_a_lone_citation_with_nothing_before_it_is_not_a_claim():
    assert split_claims("[S1]", "answer") == []
    assert split_claims("", "answer") == []
    assert split_claims("  \n\n --- \n", "answer") == []


# ---- lines and lists -----------------------------------------------------------------------------


def test_list_items_are_claims_without_their_markers():
    text = "- The pump runs at 300 rpm [S1]\n* The valve opens at 42 kPa [S2]\n1. The tank holds 5 m3.\n2) The fan is red.\n• The door is blue\n(a) The roof is flat."
    claims = split_claims(text, "answer")
    assert [c.text for c in claims] == [
        "The pump runs at 300 rpm [S1]",
        "The valve opens at 42 kPa [S2]",
        "The tank holds 5 m3.",
        "The fan is red.",
        "The door is blue",
        "The roof is flat.",
    ]
    assert [c.citations for c in claims][:2] == [("S1",), ("S2",)]
    assert all(text[c.char_start : c.char_end] == c.text for c in claims)


def test_line_breaks_end_sentences_unless_the_next_line_continues():
    assert texts("The pump runs at 300 rpm\nThe valve opens at 42 kPa") == ["The pump runs at 300 rpm", "The valve opens at 42 kPa"]
    assert texts("The pump runs at\nabout 300 rpm.") == ["The pump runs at\nabout 300 rpm."]
    assert texts("The pump runs.\n\nthe valve opens.") == ["The pump runs.", "the valve opens."]


def test_wrapped_mode_joins_document_lines():
    text = "The plant was supplied by\nSiemens Energy in 2020. It runs\n24 hours a day.\n\n- A list item"
    spans = sentence_spans(text, wrapped=True)
    assert [text[s:e] for s, e in spans] == [
        "The plant was supplied by\nSiemens Energy in 2020.",
        "It runs\n24 hours a day.",
        "A list item",
    ]


def test_headings_and_label_lines_are_process():
    claims = split_claims("## Summary\nThe key facts are:\n- The pump runs at 300 rpm.", "answer")
    assert [(c.text, c.kind) for c in claims] == [
        ("Summary", "process"),
        ("The key facts are:", "process"),
        ("The pump runs at 300 rpm.", "factual"),
    ]


# ---- conjunctions --------------------------------------------------------------------------------


def test_independent_clauses_split_and_inherit_the_citation():
    claims = split_claims("The pump runs at 300 rpm and the valve opens at 42 kPa [S1].", "answer")
    assert [(c.text, c.citations, c.kind) for c in claims] == [
        ("The pump runs at 300 rpm", ("S1",), "factual"),
        ("the valve opens at 42 kPa [S1].", ("S1",), "factual"),
    ]


def test_each_clause_keeps_its_own_citation():
    claims = split_claims("The pump runs at 300 rpm [S1] and the valve opens at 42 kPa [S2].", "answer")
    assert [c.citations for c in claims] == [("S1",), ("S2",)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The pump runs at 300 rpm, and the valve opens at 42 kPa.", ["The pump runs at 300 rpm", "the valve opens at 42 kPa."]),
        ("The plant was built in 1990 and it was expanded in 2005.", ["The plant was built in 1990", "it was expanded in 2005."]),
        ("Alice runs the plant and Bob manages the budget.", ["Alice runs the plant", "Bob manages the budget."]),
        ("The pump runs at 300 rpm, but the valve is closed.", ["The pump runs at 300 rpm", "the valve is closed."]),
        ("The valve opens at 42 kPa; the pump stops at once.", ["The valve opens at 42 kPa", "the pump stops at once."]),
        ("The tank is full, while the pump is idle.", ["The tank is full", "the pump is idle."]),
        ("Pressure is 3 bar, so the valve stays shut.", ["Pressure is 3 bar", "the valve stays shut."]),
    ],
)
def test_conjunction_splitting(text, expected):
    assert texts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Season it with salt and pepper.",
        "The pressure stays between 3 and 5 bar.",
        "The pump and the valve are tested [S1].",
        "It supports Modbus and Profinet.",
        "The pump runs at 300 rpm and stops at night.",
        "The report was written by Smith and Jones in 2020.",
        "Pumps A and B run at 300 rpm.",
        "The pumps and the valves in the hall are new.",
        "The manual (the pump runs and the valve opens) is long.",
        'He wrote "the pump runs and the valve opens" in the log.',
        "Red, green, and blue lights are fitted.",
        "The pump runs at 300 rpm or the valve opens.",
    ],
)
def test_noun_phrases_and_shared_subjects_do_not_split(text):
    assert texts(text) == [text]


# ---- kinds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind",
    [
        ("Is the valve open at 42 kPa?", "question"),
        ("What does S2 say about the pressure? [S2]", "question"),
        ("The pump might fail at 300 rpm.", "hedge"),
        ("Possibly the valve opens at 42 kPa.", "hedge"),
        ("I think the valve opens at 42 kPa.", "hedge"),
        ("It seems the pump runs at 300 rpm.", "hedge"),
        ("The pump probably runs at 300 rpm.", "hedge"),
        ("Let me check the sources.", "process"),
        ("I need to find the pressure.", "process"),
        ("Looking at S2, hmm.", "process"),
        ("First, I'll compare S1 and S2.", "process"),
        ("Wait, that is not right.", "process"),
        ("Hmm, the numbers differ.", "process"),
        ("Okay, let me look at S3 again.", "process"),
        ("The user asks about the pump speed.", "process"),
        ("So the question is about pressure.", "process"),
        ("We need to compare the values.", "process"),
        (ABSTAIN_PHRASE, "abstention"),
        ("The sources do not mention the price.", "abstention"),
        ("The provided documents don't specify the voltage.", "abstention"),
        ("This is not in the provided sources.", "abstention"),
        ("The price is not mentioned in the sources.", "abstention"),
        ("I cannot find the pressure in the sources.", "abstention"),
        ("There is no information about the price.", "abstention"),
        ("None of the sources state the date.", "abstention"),
        ("S2 does not mention the voltage.", "abstention"),
        ("I don't know.", "abstention"),
        ("The pump runs at 300 rpm.", "factual"),
        ("First, the pump starts at 300 rpm.", "factual"),
        ("There is no pressure relief valve.", "factual"),
        ("The valve is not open.", "factual"),
        ("The sources of the river are in the Alps.", "factual"),
        ("The warranty text does not cover water damage.", "factual"),
        ("The provided text does not say.", "abstention"),
        ("So the answer is 42 kPa [S2].", "factual"),
    ],
)
def test_kinds(text, kind):
    claim = one(text, "trace")
    assert claim.kind == kind
    assert claim.checkable is (kind == "factual")


def test_non_checkable_claims_are_kept_in_order():
    claims = split_claims("Let me check. Is it 5 bar? I think it is. " + ABSTAIN_PHRASE, "trace")
    assert [c.kind for c in claims] == ["process", "question", "hedge", "abstention"]


def test_leading_hedge_covers_every_clause():
    claims = split_claims("I think the pump runs at 300 rpm and the valve opens at 42 kPa.", "trace")
    assert [c.kind for c in claims] == ["hedge", "hedge"]


def test_trailing_hedge_covers_only_its_clause():
    claims = split_claims("The pump runs at 300 rpm [S1], but the valve might open at 42 kPa [S2].", "answer")
    assert [(c.kind, c.citations) for c in claims] == [("factual", ("S1",)), ("hedge", ("S2",))]


def test_abstention_in_one_clause_only():
    claims = split_claims("The pump runs at 300 rpm, but the sources do not mention the valve.", "answer")
    assert [c.kind for c in claims] == ["factual", "abstention"]


def test_process_sentences_are_not_split():
    assert len(split_claims("Let me check S1 and then I will read S2.", "trace")) == 1


def test_origin_is_recorded_and_checked():
    assert {c.origin for c in split_claims("A pump runs. It is red.", "trace")} == {"trace"}
    with pytest.raises(ValueError):
        split_claims("A pump runs.", "reasoning")  # type: ignore[arg-type]


def test_classify_is_usable_on_its_own():
    assert classify("Maybe.") == "hedge"
    assert classify("The pump runs.") == "factual"


# ---- statements about sources --------------------------------------------------------------------


@pytest.mark.parametrize(
    "trace, expected",
    [
        ("S2 says the valve opens at 42 kPa.", [("S2 says the valve opens at 42 kPa.", ("S2",))]),
        ("According to [S1], the pump runs at 300 rpm.", [("According to [S1], the pump runs at 300 rpm.", ("S1",))]),
        ("Source 3 states that the plant opened in 2020.", [("Source 3 states that the plant opened in 2020.", ("S3",))]),
        ("Looking at S2, the valve opens at 42 kPa.", [("Looking at S2, the valve opens at 42 kPa.", ("S2",))]),
        ("In S4, the price is 5 EUR.", [("In S4, the price is 5 EUR.", ("S4",))]),
        ("Sources 1 and 4 both say the price is 5 EUR.", [("Sources 1 and 4 both say the price is 5 EUR.", ("S1", "S4"))]),
        ("Wait, S2 actually says 287.5 rpm.", [("Wait, S2 actually says 287.5 rpm.", ("S2",))]),
        ("S2's table lists 42 kPa for the valve [S2].", [("S2's table lists 42 kPa for the valve [S2].", ("S2",))]),
        ("S2 talks about a clearance of 500 mm.", [("S2 talks about a clearance of 500 mm.", ("S2",))]),
        (
            "S2 says the valve opens at 42 kPa, but S3 says it opens at 50 kPa.",
            [("S2 says the valve opens at 42 kPa", ("S2",)), ("S3 says it opens at 50 kPa.", ("S3",))],
        ),
    ],
)
def test_statements_about_sources(trace, expected):
    claims = statements_about_sources(trace)
    assert [(c.text, c.citations) for c in claims] == expected
    assert all(c.kind == "factual" and c.origin == "trace" for c in claims)
    assert all(trace[c.char_start : c.char_end] == c.text for c in claims)


@pytest.mark.parametrize(
    "trace",
    [
        "Let me check what S2 says about the valve.",
        "I need to see what Source 3 states.",
        "Looking at S2.",
        "Does S2 say 42 kPa?",
        "S2 might say 42 kPa.",
        "S2 does not mention the price.",
        "The valve opens at 42 kPa [S2].",
        "The pump runs at 300 rpm.",
    ],
)
def test_not_statements_about_sources(trace):
    assert statements_about_sources(trace) == []


def test_statements_in_a_longer_trace():
    trace = (
        "Let me look at the sources. S1 says the pump runs at 300 rpm. Hmm, what about the valve? "
        "According to Source 2, the valve opens at 42 kPa. So the answer is 300 rpm."
    )
    assert [c.citations for c in statements_about_sources(trace)] == [("S1",), ("S2",)]


def test_mentioned_labels():
    assert mentioned_labels("Sources 1 and 3 agree, [S4] too, and S2 differs; source #7 is old.") == ["S1", "S3", "S4", "S2", "S7"]
    assert mentioned_labels("Grade S355 steel, [S2-S3].") == ["S2", "S3"]


# ---- properties ----------------------------------------------------------------------------------

_TOKENS = st.sampled_from(
    [
        "The pump", "runs at", "300 rpm", "42 kPa", "3.14", "and", "but", "the valve", "opens", ".", ". ", "? ",
        "! ", "; ", ", ", " ", "  ", "\n", "\n\n", "\n- ", "\n1. ", "\n## ", "[S1]", " [S2]", "[S1, S3]", "[S2-S4]",
        "e.g.", "Dr.", "No. 5", "U.S.", "etc.", "...", "Let me check", "I think", "might", "Wait,", "salt and pepper",
        "between 3 and 5 bar", "The sources do not mention it", "S2 says", "According to [S1],", '"', "(", ")",
        "Siemens Energy", "it", "is", "x", "é", "\t", ":", "-",
    ]
)  # fmt: skip


def _assert_well_formed(text: str, claims: list[Claim], labels=cited_labels) -> None:
    previous_end = 0
    for claim in claims:
        assert 0 <= claim.char_start < claim.char_end <= len(text)
        assert text[claim.char_start : claim.char_end] == claim.text
        assert claim.text == claim.text.strip() and claim.text
        assert claim.char_start >= previous_end
        previous_end = claim.char_end
        assert claim.kind in ("factual", "question", "hedge", "process", "abstention")
        assert set(claim.citations) <= set(labels(text))


def _removable(text: str) -> list[bool]:
    """Characters a claim may leave out: citations, list markers, conjunctions between clauses."""
    free = [False] * len(text)
    for match in CITATION_GROUP.finditer(text):
        free[match.start() : match.end()] = [True] * (match.end() - match.start())
    offset = 0
    for line in text.split("\n"):
        marker = LIST_MARKER.match(line)
        if marker:
            free[offset : offset + marker.end()] = [True] * marker.end()
        offset += len(line) + 1
    return free


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, max_size=40).map("".join), st.sampled_from(["answer", "trace"]))
def test_property_spans_index_the_input_and_nothing_is_lost(text, origin):
    claims = split_claims(text, origin)
    _assert_well_formed(text, claims)
    covered = [False] * len(text)
    for claim in claims:
        covered[claim.char_start : claim.char_end] = [True] * (claim.char_end - claim.char_start)
    free = _removable(text)
    conjunctions = {"and", "but", "whereas", "while", "yet", "so"}
    for index, char in enumerate(text):
        if char.isalnum() and not covered[index] and not free[index]:
            start = index
            while start > 0 and text[start - 1].isalnum():
                start -= 1
            end = index
            while end < len(text) and text[end].isalnum():
                end += 1
            assert text[start:end].lower() in conjunctions, (text, index, text[start:end])


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200))
def test_property_arbitrary_text_never_breaks_the_splitter(text):
    _assert_well_formed(text, split_claims(text, "trace"))
    _assert_well_formed(text, statements_about_sources(text), mentioned_labels)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TOKENS, max_size=40).map("".join))
def test_property_statements_about_sources_are_well_formed(text):
    claims = statements_about_sources(text)
    _assert_well_formed(text, claims, mentioned_labels)
    assert all(c.citations for c in claims)


def test_timing_sanity(capsys):
    answer = " ".join(
        f"The pump P{i} runs at {300 + i} rpm and the valve opens at {40 + i} kPa [S{i % 5 + 1}]." for i in range(25)
    )
    trace = " ".join(f"Let me check S{i}. S{i} says the value is {i}.5 bar, e.g. about {i} bar." for i in range(25))
    start = time.perf_counter()
    for _ in range(10):
        claims = split_claims(answer, "answer") + split_claims(trace, "trace") + statements_about_sources(trace)
    elapsed = (time.perf_counter() - start) / 10
    with capsys.disabled():
        print(f"\n[timing] split_claims + statements_about_sources: {len(claims)} claims in {elapsed * 1000:.2f} ms")
    assert len(claims) > 50
