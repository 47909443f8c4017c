"""The exact judge: items, presence, value conflicts, polarity, statuses, and properties."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.verify import exact
from rag.verify.claims import sentence_spans
from rag.verify.cues import antonym_sides, key_terms, negated
from rag.verify.exact import ExactResult, check_exact
from rag.verify.items import clean, extract

EVIDENCE = (
    "The pump runs at 287.5 rpm. The relief valve opens at 42 kPa and closes at 30 kPa. "
    "The plant was commissioned on 13 February 2024 by Siemens Energy. "
    "The manual says “never open the valve under load”. The heater is disabled at night. "
    "Maximum temperature is 85 °C. The test took 90 minutes. The site has 4 pumps. "
    "The budget is €1.2 million. Growth was 42 percent in 2023. The model X200 is certified to ISO 9001."
)


def check(claim: str, evidence: str = EVIDENCE) -> ExactResult:
    return check_exact(claim, evidence)


# ---- extraction ----------------------------------------------------------------------------------


def quantities(text: str) -> list[str]:
    return [q.label for q in extract(clean(text)).quantities]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It runs at 300 rpm.", ["300 rpm"]),
        ("It opens at 42kPa and 42 kPa and 42\u00a0kPa.", ["42 kPa", "42 kPa", "42 kPa"]),
        ("A fleet of 1,200 trucks and 12\u202f000 cars.", ["1200", "12000"]),
        ("Pi is 3.14 and the low is -5 °C or −7 °C.", ["3.14", "-5 °C", "-7 °C"]),
        ("Growth was 42% or 42 percent.", ["42%", "42%"]),
        ("Between 3 and 5 bar, 3–5 bar, 3 to 5 bar, 3 bar to 5 bar.", ["3–5 bar", "3–5 bar", "3–5 bar", "3 bar – 5 bar"]),
        ("It costs €1.2 million, $5, 7 EUR and 3–5 million EUR.", ["1.2 million EUR", "5 USD", "7 EUR", "3–5 million EUR"]),
        ("It took 10 minutes, 10 min, 2 hours, 3 days and a 30-day trial.", ["10 min", "10 min", "2 h", "3 days", "30 days"]),
        ("A 7B model with 5k tokens.", ["7B", "5k"]),
        ("The 3rd pump of 5 pumps.", ["3", "5"]),
        ("It took two hours.", ["2 h"]),
        ("Version 2.3.1 and 24/7 support.", []),
    ],
)
def test_quantities(text, expected):
    assert quantities(text) == expected


def test_quantities_convert_within_a_dimension():
    (kpa,) = extract(clean("42 kPa")).quantities
    (mpa,) = extract(clean("0.042 MPa")).quantities
    assert kpa.dim == mpa.dim == "pressure" and kpa.lo == pytest.approx(mpa.lo)
    (count,) = extract(clean("3 new pumps")).quantities
    assert count.dim == "noun:pump"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("On 2024-02-13.", ["2024-02-13"]),
        ("On 13 February 2024 and 13th of February, 2024.", ["2024-02-13", "2024-02-13"]),
        ("On February 13, 2024 and Feb. 13th 2024.", ["2024-02-13", "2024-02-13"]),
        ("On 13.02.2024 and 13/02/2024 and 02/13/2024.", ["2024-02-13", "2024-02-13", "2024-02-13"]),
        ("On 03/04/2024.", ["03/04/2024"]),
        ("In March 2025 and in March of 2025.", ["2025-03", "2025-03"]),
        ("On 14 March and on March 14.", ["--03-14", "--03-14"]),
        ("They may march 5 miles.", []),
    ],
)
def test_dates(text, expected):
    assert [d.label for d in extract(clean(text)).dates] == expected


def test_times_codes_quotes_and_names():
    items = extract(clean("At 14:30 and 5 p.m., the X200 (ISO-9001, v2.3.1) said “Keep  Out.” to the Bank of England."))
    assert [t for t, _ in items.times] == ["14:30", "17:00"]
    assert items.codes == ("X200", "ISO-9001", "v2.3.1")
    assert items.quotes == ("keep out",)
    assert "Bank of England" in items.names


@pytest.mark.parametrize(
    "text, names",
    [
        ("The plant was built by Siemens Energy.", ["Siemens Energy"]),
        ("Siemens built the plant.", []),  # one capitalised word opening a sentence is not a name
        ("The Bank of England raised rates.", ["Bank of England"]),
        ("Acme Corp supplies valves to the U.S. Navy.", ["Acme Corp", "U.S. Navy"]),
        ("Note: The valve is red. However, it works.", []),
        ("It was made in Oslo by Jane O'Brien.", ["Oslo", "Jane O'Brien"]),
        ("- Siemens Energy supplies it.", ["Siemens Energy"]),
    ],
)
def test_names(text, names):
    assert list(extract(clean(text)).names) == names


def test_citations_and_source_mentions_are_not_items():
    assert quantities(clean("The valve opens at 42 kPa [S2][S3, S4].")) == ["42 kPa"]
    items = extract(clean("S2 says Source 3 is right about 42 kPa.", source_mentions=True))
    assert [q.label for q in items.quantities] == ["42 kPa"] and not items.codes and not items.names


def test_cues():
    assert negated("The valve does not open.") and negated("It never opens.") and negated("It isn't open.")
    assert not negated("It is not less than 3 bar.") and not negated("See No. 5.") and not negated("Not only that.")
    assert antonym_sides("The valve closes.") == {3: {"b"}}
    assert antonym_sides("It is not less than 3 bar.") == antonym_sides("It is at least 3 bar.")
    assert key_terms("The pumps are running at 1,200 rpm.") == {"pump", "run", "1200"}


# ---- presence ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claim",
    [
        "The pump runs at 287.5 rpm [S1].",
        "The relief valve opens at 42kPa.",
        "The relief valve opens at 42\u00a0kPa.",
        "The relief valve opens at 0.042 MPa.",
        "The test took 1.5 hours.",
        "The test took 90 min.",
        "The plant was commissioned on 2024-02-13.",
        "The plant was commissioned on February 13, 2024.",
        "The plant was commissioned in February 2024.",
        "The plant was commissioned in 2024.",
        "The plant was commissioned by SIEMENS ENERGY.",
        "The manual says 'Never open the valve under load.'",
        'The manual says "never  open the VALVE under load".',
        "The manual says «never open the valve under load».",
        "The site has four pumps.",
        "The budget is EUR 1,200,000.",
        "Growth was 42% [S3].",
        "The x-200 model is certified to ISO-9001.",
        "S2 says the relief valve opens at 42 kPa.",
    ],
)
def test_supported(claim):
    result = check(claim)
    assert result.status == "supported", result
    assert not result.missing and not result.conflicts
    assert 0.5 <= result.confidence <= 0.95


def test_verbatim_claims_are_supported_with_high_confidence():
    result = check("The heater is disabled at night.")
    assert result.status == "supported" and result.confidence == 0.95
    assert check("The heater is").status == "undecided"  # a short fragment with nothing to check


def test_unit_less_numbers_count_with_less_confidence():
    result = check("The valve opens at 42 kPa.", "Valve opening pressure (kPa): 42")
    assert result.status == "supported" and "without their unit" in result.reason
    assert result.confidence < check("The valve opens at 42 kPa.", "The valve opens at 42 kPa in tests.").confidence


def test_range_endpoints():
    assert check("The pressure is 5 bar.", "The pressure is between 3 and 5 bar.").status == "supported"
    assert check("The pressure is 3 to 5 bar.", "The pressure is 3–5 bar.").status == "supported"
    assert check("It runs at 3-5 bar.", "The minimum pressure is 3 bar and the maximum pressure is 5 bar.").status == "supported"
    inside = check("The pressure is 4 bar.", "The pressure is 3–5 bar.")
    assert inside.status == "unsupported" and inside.missing == ["quantity 4 bar"]


def test_date_ambiguity_and_precision():
    assert check("It opened on 03/04/2024.", "It opened on 2024-04-03.").status == "supported"
    assert check("It opened on 03/04/2024.", "It opened on 2024-03-04.").status == "supported"
    less_precise = check("It opened on 14 March 2025.", "It opened in March 2025.")
    assert less_precise.status == "unsupported" and less_precise.missing == ["date 2025-03-14"]


# ---- missing and conflicting ---------------------------------------------------------------------


def test_wrong_number_with_the_same_unit_is_contradicted():
    result = check("The pump runs at 300 rpm [S1].")
    assert result.status == "contradicted"
    assert result.conflicts == ["claim 300 rpm vs evidence 287.5 rpm for the same unit"]
    assert result.confidence >= 0.75


def test_wrong_bare_number_is_unsupported():
    result = check("The score was 287.5.", "The score was 300.")
    assert result.status == "unsupported"
    assert result.missing == ["number 287.5"]


def test_wrong_value_in_another_unit_of_the_dimension():
    result = check("The test took 2 hours.")
    assert result.status == "contradicted"
    assert result.conflicts == ["claim 2 h vs evidence 90 min for the same dimension"]


@pytest.mark.parametrize(
    "claim, conflict",
    [
        ("The site has 3 pumps.", "claim 3 pump vs evidence 4 pump for the same noun"),
        ("Growth was 45% in 2023.", "claim 45% vs evidence 42% for the same unit"),
        ("The budget is €2 million.", "claim 2 million EUR vs evidence 1.2 million EUR for the same unit"),
        ("Maximum temperature is 95 °C.", "claim 95 °C vs evidence 85 °C for the same unit"),
        ("The plant was commissioned on 14 March 2025.", "claim date 2025-03-14 vs evidence date 2024-02-13"),
        ("The plant was commissioned on 2024-02-14.", "claim date 2024-02-14 vs evidence date 2024-02-13"),
    ],
)
def test_value_conflicts(claim, conflict):
    result = check(claim)
    assert result.status == "contradicted", result
    assert result.conflicts == [conflict]


def test_times():
    assert check("It opens at 08:00.", "It opens at 8:00 am.").status == "supported"
    result = check("It opens at 08:00.", "It opens at 9:00.")
    assert result.status == "contradicted" and result.conflicts == ["claim time 08:00 vs evidence time 09:00"]


def test_conflicts_need_an_aligned_sentence():
    aligned = check("The boiler reached 120 °C.", "The boiler reached 95 °C. The garden is large.")
    assert aligned.status == "contradicted" and aligned.conflicts == ["claim 120 °C vs evidence 95 °C for the same unit"]
    unaligned = check("The boiler reached 120 °C.", "The room is 25 °C warm. The boiler is new.")
    assert unaligned.status == "unsupported" and unaligned.missing == ["quantity 120 °C"]
    single = check("The kettle reached 120 °C.", "Maximum room temperature is 25 °C.")
    assert single.status == "contradicted"  # a one-sentence evidence always aligns


def test_misattributed_value():
    evidence = "The pump runs at 300 rpm. The fan runs at 1200 rpm."
    result = check("The fan runs at 300 rpm.", evidence)
    assert result.status == "contradicted"
    assert "1200 rpm in the closest sentence" in result.conflicts[0]
    assert result.confidence <= 0.7
    assert check("The pump runs at 300 rpm.", evidence).status == "supported"
    assert check("It runs at 300 rpm.", evidence).status == "supported"


def test_fabricated_quote_is_unsupported():
    result = check('The manual says "open the valve slowly".')
    assert result.status == "unsupported"
    assert result.missing == ["quote 'open the valve slowly'"]
    assert result.confidence >= 0.85
    assert result.decisive == result.missing  # a quote is verbatim text: no model may read it as present


def test_missing_name_and_code():
    result = check("The plant was commissioned by General Electric.")
    assert result.status == "unsupported" and result.missing == ["name General Electric"]
    assert result.confidence == 0.55
    assert result.decisive == []  # a name may be a synonym or a spelling: the entailment model may read it
    code = check("The model X300 is certified.")
    assert code.status == "unsupported" and code.missing == ["code X300"]
    assert code.decisive == ["code X300"] and "X200" in code.reason  # the evidence's rival code


def test_several_missing_items_are_all_listed():
    result = check("Acme Corp sold 17 valves on 2 June 2021.")
    assert result.status == "unsupported"
    assert result.missing == ["number 17", "date 2021-06-02", "name Acme Corp"]


# ---- polarity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claim, evidence, kind",
    [
        ("The relief valve does not open at 42 kPa.", "The relief valve opens at 42 kPa.", "negation"),
        ("The relief valve opens at 42 kPa.", "The relief valve never opens at 42 kPa.", "negation"),
        ("The pressure increased to 5 bar.", "The pressure decreased to 5 bar.", "antonym"),
        ("The tank level is above 5 m.", "The tank level is below 5 m.", "antonym"),
        ("The valve is open at 3 bar.", "The valve is closed at 3 bar.", "antonym"),
        ("The heater is enabled above 5 °C.", "The heater is disabled above 5 °C.", "antonym"),
        ("Minimum temperature is 85 °C.", "Maximum temperature is 85 °C.", "antonym"),
        ("The pump is switched on at 06:00.", "The pump is switched off at 06:00.", "antonym"),
        ("Smoking is allowed in Hall 5.", "Smoking is forbidden in Hall 5.", "antonym"),
        ("The statement on 2024-01-01 was true.", "The statement on 2024-01-01 was false.", "antonym"),
        ("It uses more than 5 kW.", "It uses less than 5 kW.", "antonym"),
    ],
)
def test_polarity_flips_are_contradicted(claim, evidence, kind):
    result = check(claim, evidence)
    assert result.status == "contradicted", result
    assert result.conflicts[0].startswith(f"{kind} mismatch")
    assert 0.55 <= result.confidence <= 0.85


@pytest.mark.parametrize(
    "claim, evidence",
    [
        ("The valve is not closed at 3 bar.", "The valve is open at 3 bar."),  # two flips cancel
        ("The pressure is not less than 3 bar.", "The pressure is at least 3 bar."),
        ("The relief valve does not open at 42 kPa.", "The relief valve does not open at 42 kPa in winter."),
        ("The pump stops at 5 bar.", "The pump runs at 3 bar. It does not run at 5 bar. The pump stops at 5 bar, always."),
        ("The pump runs at 300 rpm.", "The pump, which is not new, runs at 300 rpm."),
        ("The pump runs at 300 rpm.", "The pump (not the fan) runs at 300 rpm."),
        ("The valve opens at 42 kPa.", "The valve opens at 42 kPa; the pump does not start."),
        ("The relief valve comes from Acme Corp.", "The relief valve comes via Acme Corp. Pump 5 does not run."),
        ("The pump really runs at 300 rpm.", "The pump runs at 300 rpm, not 400 rpm."),
    ],
)
def test_matching_polarity_is_supported(claim, evidence):
    assert check(claim, evidence).status == "supported"


def test_polarity_without_items_is_only_a_hint():
    result = check("The heater is enabled at night.")
    assert result.status == "undecided" and result.confidence == 0.0
    assert result.conflicts and result.conflicts[0].startswith("antonym mismatch")


# ---- undecided -----------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["The pump is quick.", "It works well.", "", "[S2]"])
def test_nothing_to_check_is_undecided(claim):
    result = check(claim)
    assert result.status == "undecided" and result.confidence == 0.0 and not result.items


def test_result_shape():
    result = check("The pump runs at 300 rpm.")
    assert isinstance(result.missing, list) and isinstance(result.conflicts, list) and isinstance(result.items, list)
    assert result.items == ["quantity 300 rpm"] and result.reason


# ---- properties ----------------------------------------------------------------------------------

_SUBJECTS = ["The pump", "The relief valve", "Siemens Energy", "The plant in Oslo", "The main heater", "Pump No. 5",
             "The Bank of England", "Our supplier", "It"]  # fmt: skip
_UNITS = ["rpm", "kPa", "bar", "°C", "%", "MW", "km", "m", "ms", "s", "h", "minutes", "hours", "days", "EUR", "pumps", ""]
_DATES = ["14 March 2025", "March 14, 2025", "2024-02-13", "13.02.2024", "March 2025", "5 May", "2020"]
_NAMES = ["Siemens Energy", "General Electric", "the Bank of England", "Jane O'Brien", "Acme Corp", "ISO 9001", "model X200"]
_QUOTES = ["“never open under load”", '"keep out"', "'handle with care'", "«do not touch»"]


def _number(value: int, decimals: int, grouped: bool, unit: str, space: str, shape: int, other: int) -> str:
    text = f"{value / 10**decimals:.{decimals}f}" if decimals else (f"{value:,}" if grouped else str(value))
    if shape == 1:
        text = f"{text}–{other}"
    elif shape == 2:
        text = f"between {text} and {other}"
    return f"{text}{space if unit[:1].isalpha() else space.strip()}{unit}"


numbers = st.builds(
    _number, st.integers(-50, 100000), st.integers(0, 2), st.booleans(), st.sampled_from(_UNITS),
    st.sampled_from([" ", "", "\u00a0"]), st.sampled_from([0, 0, 1, 2]), st.integers(0, 1000),
)  # fmt: skip


_NEGATION = st.sampled_from(["", "not ", "never "])
_PREDICATES = st.one_of(
    st.builds("runs {}at {}".format, _NEGATION, numbers),
    st.builds("is {}rated for {}".format, _NEGATION, numbers),
    st.builds("was commissioned on {}".format, st.sampled_from(_DATES)),
    st.builds("is supplied by {}".format, st.sampled_from(_NAMES)),
    st.builds("is {}described as {}".format, _NEGATION, st.sampled_from(_QUOTES)),
    st.builds("{} the valve at {}".format, st.sampled_from(["opens", "closes", "increases", "decreases"]), numbers),
    st.builds("starts at {}".format, st.sampled_from(["08:00", "9:30 am", "5 p.m.", "17:45"])),
    st.builds("is {}reliable".format, _NEGATION),
)
sentences = st.builds(
    "{} {}{}{}".format,
    st.sampled_from(_SUBJECTS),
    _PREDICATES,
    st.sampled_from(["", " in winter", " above 5 bar", " and the valve opens at 42 kPa", " (see Fig. 3)"]),
    st.sampled_from([".", ".", "!", ";"]),
)


@st.composite
def evidence_and_sentence(draw) -> tuple[str, str]:
    parts = draw(st.lists(sentences, min_size=1, max_size=6))
    separators = [draw(st.sampled_from([" ", "\n", "\n\n", "  "])) for _ in parts]
    evidence = "".join(p + s for p, s in zip(parts, separators)).strip()
    return evidence, draw(st.sampled_from(parts))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidence_and_sentence(), st.sampled_from(["", " [S2]", " [S1, S3]"]))
def test_property_a_sentence_copied_from_the_evidence_is_never_contradicted_or_unsupported(pair, citation):
    evidence, sentence = pair
    claim = sentence[:-1] + citation + sentence[-1]
    result = check_exact(claim, evidence)
    assert result.status in ("supported", "undecided"), (claim, evidence, result)
    assert not result.missing


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidence_and_sentence())
def test_property_items_are_read_the_same_in_a_claim_and_in_its_evidence(pair):
    """The same sentence with one extra word is not verbatim, so every item check really runs."""
    evidence, sentence = pair
    claim = sentence[:-1] + " indeed" + sentence[-1]
    result = check_exact(claim, evidence)
    assert result.status in ("supported", "undecided"), (claim, evidence, result)
    assert not result.missing


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_property_arbitrary_text_never_breaks_the_checker(claim, evidence):
    result = check_exact(claim, evidence)
    assert result.status in ("supported", "contradicted", "unsupported", "undecided")
    assert 0.0 <= result.confidence <= 1.0
    assert check_exact(evidence, evidence).status in ("supported", "undecided")


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="ascii"), max_size=400))
def test_property_any_sentence_of_any_text_is_supported_by_that_text(text):
    for start, end in sentence_spans(text, wrapped=True):
        assert check_exact(text[start:end], text).status in ("supported", "undecided")


def test_timing_sanity(capsys):
    evidence = EVIDENCE + " " + " ".join(f"Unit {i} delivers {i * 10} kW at {i} bar on 2024-01-{i + 1:02d}." for i in range(20))
    claims = [f"Unit {i} delivers {i * 10 + i % 2} kW at {i} bar [S{i % 4 + 1}]." for i in range(20)] + [
        "The pump runs at 300 rpm.", "The relief valve does not open at 42 kPa.", "The manual says “open slowly”.",
        "The plant was commissioned on 14 March 2025 by General Electric.", "The site has 3 pumps.",
        "The heater is enabled at night.", "Growth was 42% in 2023.", "The budget is €1.2 million.",
        "The test took 2 hours.", "The model X300 is certified to ISO 9001.",
    ] * 3  # fmt: skip
    assert len(claims) == 50
    exact._evidence.cache_clear()
    exact._claim.cache_clear()
    start = time.perf_counter()
    results = [check_exact(claim, evidence) for claim in claims]
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(5):
        results = [check_exact(claim, evidence) for claim in claims]
    warm = (time.perf_counter() - start) / 5
    with capsys.disabled():
        print(f"\n[timing] check_exact, 50 claims vs one {len(evidence)}-char passage: first {cold * 1000:.1f} ms, then {warm * 1000:.1f} ms")
    assert {r.status for r in results} >= {"supported", "contradicted", "unsupported"}
