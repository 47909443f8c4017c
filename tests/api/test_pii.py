"""api.pii: each kind in the formats people write it, its checksum enforced, and the numbers of
scientific text left alone (bench/pii_redaction.py measures the same rules on a larger labelled set)."""

from __future__ import annotations

import pytest

from api.pii import codice_fiscale_valid, dni_valid, find_pii, iban_valid, luhn_valid, redact_log_text, redact_pii


@pytest.mark.parametrize("text, expected", [
    ("Mail jane.doe@example.com today", "Mail <EMAIL> today"),
    ("cc: o'brien.c@example.ie, LEE_KIM@Example.NET.", "cc: <EMAIL>, <EMAIL>."),
    ("Call +44 20 7946 0958 or (202) 555-0143.", "Call <PHONE> or <PHONE>."),
    ("UK 020 7946 0958, FR 01 23 45 67 89, DE 030 12345678", "UK <PHONE>, FR <PHONE>, DE <PHONE>"),
    ("mobile 07700900123; +1-202-555-0143; 1-800-555-0199", "mobile <PHONE>; <PHONE>; <PHONE>"),
    ("phone: 2025550143", "phone: <PHONE>"),
    ("Card 4111 1111 1111 1111 exp 04/27", "Card <CARD> exp 04/27"),
    ("Amex 3782-822463-10005 and 5500005555555559", "Amex <CARD> and <CARD>"),
    ("IBAN GB82 WEST 1234 5698 7654 32, or DE89370400440532013000.", "IBAN <IBAN>, or <IBAN>."),
    ("SSN 078-05-1120; NI AB 12 34 56 C", "SSN <NATIONAL_ID>; NI <NATIONAL_ID>"),
    ("My NI number is AB123456C.", "My NI number is <NATIONAL_ID>."),
    ("DNI 12345678Z, NIE X1234567L, CF RSSMRA85T10A562S", "DNI <NATIONAL_ID>, NIE <NATIONAL_ID>, CF <NATIONAL_ID>"),
])  # fmt: skip
def test_each_kind_is_replaced_by_its_label(text, expected):
    assert redact_pii(text) == expected


@pytest.mark.parametrize("text", [
    "Published 1998; pooled 1998–2001 and 1998-2001; pp. 123-145; 2023-05-01; 12.05.2023",
    "doi:10.1016/j.cell.2020.01.001 and https://doi.org/10.7554/eLife.00422.001",
    "version 1.2.3, ISBN 978-3-16-148410-0, ISSN 0028-0836, ORCID 0000-0002-1825-0097",
    "BRCA1, TP53, IGH@ on 14q32, c.1234G>A, SR141716A (1 and 3 mg/kg), CAS 7732-18-5",
    "23.5 mg/kg, p < 0.001, n = 12345678, 95% CI 1.02–1.45, +12.5 ± 3.2 mmHg",
    "576 900 (330 000-701 200) years of life lost; EudraCT 2004-002245-12; NCT00110123",
    "order 4111 1111 1111 1112; years 2001 2005 2010 2015; 192.168.1.1",
    "GB82 WEST 1234 5698 7654 33 (wrong check); 000-12-3456; 666-12-3456; 12345678A",
    "user@localhost, @username, foo@bar",
])  # fmt: skip
def test_numbers_of_scientific_text_are_left_alone(text):
    assert find_pii(text) == []


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82WEST1234569876543")  # one character short for GB
    assert dni_valid("", "12345678", "Z") and not dni_valid("", "12345678", "A")
    assert dni_valid("X", "1234567", "L")
    assert codice_fiscale_valid("RSSMRA85T10A562S") and not codice_fiscale_valid("RSSMRA85T10A562X")


def test_overlapping_findings_keep_the_stronger_kind():
    # The IBAN's digits also read as a card-length run and as phone groups: one IBAN is reported.
    [finding] = find_pii("DE89 3704 0044 0532 0130 00")
    assert finding.kind == "IBAN"


def test_log_values_are_redacted_through_lists_and_mappings_or_not_at_all():
    messages = [{"role": "user", "content": "I am jane@example.com"}, {"role": "assistant", "content": "ok"}]
    assert redact_log_text(messages, "pii") == [{"role": "user", "content": "I am <EMAIL>"},
                                                {"role": "assistant", "content": "ok"}]
    assert redact_log_text(messages, "off") is messages
    assert redact_log_text(3, "pii") == 3
