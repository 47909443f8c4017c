"""Spelling variants of names and codes (``rag.verify.spelling``), and which missing items stay decisive
(``ExactResult.decisive``): the exact layer's "in no source" findings that were too strict for scientific
text (docs/verifier.md, "20 failures read by hand")."""

from __future__ import annotations

import pytest

from rag.verify.exact import check_exact
from rag.verify.spelling import defined_aliases, fold, variant_in


@pytest.mark.parametrize(
    "name, evidence, how",
    [
        ("IFN-γ", "Spleens from IFN-gamma-deficient mice were immunized.", "written otherwise"),
        ("IFNγ", "Mice lacking IFN gamma were studied.", "written otherwise"),
        ("COVID19", "Patients with COVID-19 were enrolled.", "written otherwise"),
        ("ORFs", "The strand contains three open reading frames.", "as an acronym's words"),
        ("CFA", "EAM was induced with complete Freund's adjuvant.", "as an acronym's words"),
        ("I-carnitine", "Plasma L-carnitine levels were measured.", "one letter apart"),
    ],
)
def test_a_name_spelt_otherwise_is_found(name, evidence, how):
    assert variant_in(name, evidence) == how


@pytest.mark.parametrize(
    "name, evidence",
    [
        ("COVID-18", "Patients with COVID-19 were enrolled."),  # digits are never a typo
        ("Galliformes", "In birds, sexual differentiation is cell autonomous."),  # a synonym, not a spelling
        ("EU", "The effects unclear were noted."),  # two-letter acronyms match unrelated initials too often
        ("Jonson", "Mr Johnson signed."),  # short words: no one-letter slack
    ],
)
def test_other_names_are_not_variants(name, evidence):
    assert variant_in(name, evidence) is None


def test_fold():
    assert fold("IFN-γ") == fold("IFN gamma".replace(" ", "")) == "ifngamma"
    assert fold("Nrf-2") == "nrf2"


def test_a_name_the_claim_defines_in_parentheses_is_no_item_of_its_own():
    claim = "Commelina yellow mottle virus (ComYMV) has three ORFs."
    assert defined_aliases(claim) == {"ComYMV"}
    assert defined_aliases("Adverse drug events (ADEs) fell.") == {"ADEs"}
    assert defined_aliases("The pump (Siemens) failed.") == frozenset()  # not the initials of its words
    result = check_exact(claim, "Commelina yellow mottle virus has three open reading frames.")
    assert result.status == "supported" and "name ComYMV" not in result.items
    assert "spelt otherwise" in result.reason


def test_a_variant_counts_as_weaker_evidence_than_the_name_as_written():
    written = check_exact("Levels of L-carnitine rise in omnivores.", "Levels of L-carnitine rise in omnivores daily.")
    variant = check_exact("Levels of I-carnitine rise in omnivores.", "Levels of L-carnitine rise in omnivores daily.")
    assert written.status == variant.status == "supported"
    assert variant.confidence < written.confidence


# ---- which missing items decide -------------------------------------------------------------------


def test_a_number_against_another_number_of_its_kind_is_decisive():
    year = check_exact("The film was released in 1998.", "The film was released in 2001 by Fox.")
    assert year.status == "unsupported" and year.decisive == ["number 1998"] and "2001" in year.reason
    dated = check_exact("The film was released in March 1998.", "The film was released in 2001.")
    assert dated.decisive == ["date 1998-03"]


def test_a_missing_item_without_a_rival_is_not_decisive():
    assert check_exact("The film was released in 1998.", "The film was made by Fox.").decisive == []
    assert check_exact("Crews inspect it 14 times.", "Crews inspect it regularly.").decisive == []
    synonym = check_exact("Cell autonomous sex determination occurs in Galliformes.",
                          "In birds, sexual differentiation is cell autonomous.")
    assert synonym.status == "unsupported" and synonym.decisive == []


def test_a_value_of_the_same_unit_is_still_a_contradiction():
    result = check_exact("Crews inspect it every 14 days.", "Crews inspect it every 10 days.")
    assert result.status == "contradicted"
