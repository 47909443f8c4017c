"""The labelled set that bench/pii_redaction.py measures log redaction on, built in code from a fixed seed.

Each item is a text as a question, answer or chat turn would hold it, with the spans that must be
redacted and their kind. Positives: every kind in the formats people write it in, in varied sentences;
a few in formats the rules were not written for (an address written "at … dot …", a seven-digit local
number with no word saying it is one, a card split by dots) are kept in, so the recall reported is
not flattered. Hard negatives: DOIs, years and ranges, dates, page ranges, versions, gene names,
measurements, invalid-Luhn card-length numbers, ISBNs and ISSNs, trial and accession ids, compound
codes, ORCIDs, IP addresses, IBANs with a wrong check, and (when the data set is there) SciFact
sentences that hold numbers. Numbers for cards, IBANs and ids are generated valid (Luhn, mod-97,
check letters) from issuer prefixes and country formats; phone numbers use ranges set aside for
fiction where they exist.
"""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from api.pii import CODICE_FISCALE_ODD, DNI_LETTERS, IBAN_LENGTHS, luhn_valid

SEED = 13


@dataclass
class Item:
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, start, end)
    group: str = "negative"  # positive | odd_format (a positive the rules were not written for) | negative
    note: str = ""


def _item(template: str, values: list[tuple[str, str]], group: str = "positive", note: str = "") -> Item:
    """``template`` with ``{}`` filled by each value in turn; the spans are where the values landed."""
    pieces = template.split("{}")
    assert len(pieces) == len(values) + 1, template
    text, spans = pieces[0], []
    for (kind, value), after in zip(values, pieces[1:], strict=True):
        spans.append((kind, len(text), len(text) + len(value)))
        text += value + after
    return Item(text, spans, group, note)


# -- generators of valid values ----------------------------------------------------------------------
def card_number(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("a Luhn check digit always exists")


def invalid_card_number(rng: random.Random, prefix: str, length: int) -> str:
    valid = card_number(rng, prefix, length)
    return valid[:-1] + str((int(valid[-1]) + 1 + rng.randrange(9)) % 10)


CARD_ISSUERS = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
                ("6011", 16), ("65", 16), ("35", 16), ("36", 14), ("62", 16), ("4", 19), ("4", 13)]


def grouped(digits: str, sizes: list[int], separator: str) -> str:
    parts, position = [], 0
    for size in sizes:
        parts.append(digits[position:position + size])
        position += size
    if position < len(digits):
        parts.append(digits[position:])
    return separator.join(parts)


CARD_GROUPS = {13: [4, 4, 5], 14: [4, 6, 4], 15: [4, 6, 5], 16: [4, 4, 4, 4], 19: [4, 4, 4, 4, 3]}


def card_formats(number: str) -> list[str]:
    """Unsplit, and in the issuers' groups split by spaces or dashes."""
    sizes = CARD_GROUPS[len(number)]
    return [number, grouped(number, sizes, " "), grouped(number, sizes, "-")]


IBAN_FORMATS = {  # country: BBAN pattern, d digit, a upper letter, c alphanumeric
    "DE": "d" * 18, "GB": "aaaa" + "d" * 14, "FR": "d" * 10 + "c" * 11 + "dd", "ES": "d" * 20,
    "IT": "a" + "d" * 10 + "c" * 12, "NL": "aaaa" + "d" * 10, "BE": "d" * 12, "CH": "d" * 5 + "c" * 12,
    "AT": "d" * 16, "PL": "d" * 24,
    "SE": "d" * 20, "IE": "aaaa" + "d" * 14, "PT": "d" * 21, "NO": "d" * 11, "DK": "d" * 14,
}  # fmt: skip


def iban(rng: random.Random, country: str) -> str:
    alphabet = {"d": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
    bban = "".join(rng.choice(alphabet[kind]) for kind in IBAN_FORMATS[country])
    assert len(bban) + 4 == IBAN_LENGTHS[country], country
    numeric = int("".join(str(int(char, 36)) for char in bban + country + "00"))
    return f"{country}{98 - numeric % 97:02d}{bban}"


def spaced_iban(value: str) -> str:
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def nino(rng: random.Random, spaced: bool) -> str:
    first = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    suffix = rng.choice("ABCD")
    if spaced:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


def dni(rng: random.Random) -> str:
    number = rng.randrange(10_000_000, 100_000_000)
    return f"{number}{DNI_LETTERS[number % 23]}"


def nie(rng: random.Random) -> str:
    prefix = rng.choice("XYZ")
    digits = f"{rng.randrange(0, 10_000_000):07d}"
    return f"{prefix}{digits}{DNI_LETTERS[int(str('XYZ'.index(prefix)) + digits) % 23]}"


def codice_fiscale(rng: random.Random) -> str:
    letters = string.ascii_uppercase
    body = ("".join(rng.choice(letters) for _ in range(6)) + f"{rng.randrange(100):02d}" + rng.choice("ABCDEHLMPRST")
            + f"{rng.randrange(1, 72):02d}" + rng.choice(letters) + f"{rng.randrange(1000):03d}")
    total = sum(CODICE_FISCALE_ODD[char] if position % 2 == 0 else (int(char) if char.isdigit() else ord(char) - 65)
                for position, char in enumerate(body))
    return body + chr(65 + total % 26)


def phone_numbers(rng: random.Random) -> list[str]:
    """Numbers in the shapes people write, from the ranges kept for drama where a country has one."""
    def d(count: int) -> str:
        return "".join(rng.choice(string.digits) for _ in range(count))

    us = f"{rng.randrange(2, 10)}{d(2)}"
    return [
        f"({us}) 555-{d(4)}", f"{us}-555-{d(4)}", f"{us}.555.{d(4)}", f"+1 {us} 555 {d(4)}", f"+1-{us}-555-{d(4)}",
        f"1-800-555-{d(4)}", f"+1 ({us}) 555-{d(4)}", f"+44 20 7946 0{d(3)}", f"+44 (0)20 7946 0{d(3)}",
        f"020 7946 0{d(3)}", f"0161 496 0{d(3)}", f"07700 900{d(3)}", f"07700900{d(3)}", f"+44 7700 900{d(3)}",
        f"0044 20 7946 0{d(3)}", f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}", f"01 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"06.{d(2)}.{d(2)}.{d(2)}.{d(2)}", f"+49 30 {d(8)}", f"030 {d(8)}", f"0171 {d(7)}", f"+49 (0)89 {d(7)}",
        f"+34 91 {d(3)} {d(2)} {d(2)}", f"+39 06 {d(4)} {d(4)}", f"+31 20 {d(3)} {d(4)}", f"+91 98{d(3)} {d(5)}",
        f"+81-3-{d(4)}-{d(4)}", f"+61 2 {d(4)} {d(4)}", f"+55 11 9{d(4)}-{d(4)}", f"+1{us}555{d(4)}",
        f"+353 1 {d(3)} {d(4)}", f"+46 8 {d(3)} {d(3)} {d(2)}",
    ]


# -- sentences ---------------------------------------------------------------------------------------
EMAIL_TEMPLATES = [
    "Please send the report to {} before Friday.", "Who is {} and why were they cc'd on the incident?",
    "The maintainer ({}) approved the change.", "Contact: {}", "Forward this to {}; {} owns the pump logs.",
    "Is {} still the on-call address for Unit 3?", "email me at {} when the audit is done",
    "Reply-To: <{}>", "The form lists {}, which bounced.", "Can you summarise the thread from {}?",
]
EMAILS = [
    "jane.doe@example.com", "j.smith+billing@corp.example.co.uk", "ops-team@plant-7.example.org",
    "m.rossi@ospedale.example.it", "LEE_KIM@Example.NET", "o'brien.c@example.ie", "first.last@sub.dept.example.edu",
    "x@example.io", "rené.dupont@exemple.fr", "support123@example-mail.com", "a.b.c.d@e-x.example.museum",
    "night.shift@glenbrook.example", "dr.yang@lab.example.cn", "hr@example.de", "noreply@mailer.example.com",
]
PHONE_TEMPLATES = [
    "Call the duty engineer on {}.", "My number is {} if the trip happens again.", "Phone: {}",
    "The vendor's hotline {} was busy all night.", "Reach the site office at {} or by e-mail.",
    "Fax {} for the signed permits.", "Who answers {} after 18:00?", "tel. {}", "Ring me back on {} please.",
    "The label on the pump says to dial {} in an emergency.",
]
CARD_TEMPLATES = [
    "Charge the spare parts to card {}.", "My card number is {} and it was declined.", "Card: {} exp 04/27",
    "Why was {} billed twice for the licence?", "Refund the order paid with {}.",
]
IBAN_TEMPLATES = [
    "Pay the invoice into {} by the end of the month.", "IBAN: {}", "The supplier changed their account to {}.",
    "Is {} the right account for the maintenance contract?", "Wire the deposit to {} (reference 2024-117).",
]
ID_TEMPLATES = [
    "My SSN is {} — can you check my claim?", "Employee {} requested access to the logs.",
    "The form shows {} in the id field.", "ID: {}", "Which records mention {}?",
]
NINO_CUE_TEMPLATES = ["My NI number is {}.", "National Insurance no. {}", "NINO: {}"]

# Values in formats the rules were not written for: kept in, so that recall is not flattered.
ODD_FORMATS = [
    ("Write to jane dot doe at example dot com.", [("EMAIL", "jane dot doe at example dot com")]),
    ("my address is j.smith [at] example [dot] org", [("EMAIL", "j.smith [at] example [dot] org")]),
    ("Ask for extension 555-0142 at the front desk.", [("PHONE", "555-0142")]),
    ("Her number: two oh two, five five five, one two three four.",
     [("PHONE", "two oh two, five five five, one two three four")]),
    ("The card ending 4242 4242 4242 4242 was used.", [("CARD", "4242 4242 4242 4242")]),
    ("Cell 0412 345 678 (Sydney).", [("PHONE", "0412 345 678")]),
    ("SSN 078 05 1120 is on the old form.", [("NATIONAL_ID", "078 05 1120")]),
    ("the card is 4111.1111.1111.1111", [("CARD", "4111.1111.1111.1111")]),
]

HARD_NEGATIVES = [
    # DOIs, URLs and identifiers of papers
    "See doi:10.1016/j.cell.2020.01.001 for the method.", "https://doi.org/10.7554/eLife.00422.001",
    "DOI 10.1371/journal.pone.0123456", "arXiv:2101.00001v2", "PMID: 12345678", "PMCID PMC3456789",
    "ClinicalTrials.gov NCT00110123", "EudraCT 2004-002245-12", "ISRCTN 12345678", "ORCID 0000-0002-1825-0097",
    "ISSN 0028-0836", "ISBN 978-3-16-148410-0", "ISBN 0-306-40615-2", "ISBN 9780306406157", "GEO accession GSE12345",
    "RefSeq NM_000546.6", "SNP rs12345678", "UniProt P04637", "PDB 1TUP", "GenBank AB123456.1",
    # years, ranges, dates, times
    "Published in 1998.", "Data from 1998–2001 were pooled.", "between 1998-2001 and 2005-2010",
    "Follow-up ran from 2003 to 2011.", "On 2023-05-01 the trial closed.", "12.05.2023", "05/12/2023",
    "1 January 2020", "Q3 2021", "09:00-17:00", "at 14:30:15.123", "Years 2001 2005 2010 2015 were sampled.",
    "cohorts of 1990, 2000, 2010 and 2020", "FY2019/20",
    # pages, volumes, versions
    "pp. 123-145", "Nature 2005; 436(7049): 1234-1240.", "Vol. 12, No. 3, pp. 1023-1045", "e0123456",
    "version 1.2.3", "v2.10.0-rc1", "Python 3.11.4", "CUDA 12.1", "release 2024.11.19",
    # genes, proteins, compounds
    "BRCA1 and TP53 mutations", "IGH@ on 14q32", "t(14;19)(q32;q13)", "P2RY8-CRLF2 fusion", "c.1234G>A",
    "p.Val600Glu (V600E)", "SR141716A (1 and 3 mg/kg)", "SB203580 blocked p38", "LY294002 at 10 μM",
    "WIN55,212-2", "CAS 7732-18-5", "CAS 50-00-0", "HLA-DRB1*04:01", "CD4+ CD25+ T cells", "miR-155-5p",
    # measurements and statistics
    "23.5 mg/kg", "p < 0.001", "n = 12345678", "95% CI 1.02–1.45", "OR 2.31 (1.45-3.67)", "37.5 °C",
    "1.2 × 10^5 cells/ml", "10^-6 M", "ratio 1:1000", "+/- 0.5 mm", "+12.5 ± 3.2 mmHg", "-80 °C",
    "576 900 (330 000-701 200) years of life lost", "$1,234,567.89", "€ 12 345 678", "1 234 567 890 123 456",
    "0.05 0.01 0.001", "0 100 200 300 400", "n=2,345; 1,234 women", "HR 0.76 (0.62–0.93)",
    "OD600 of 0.6", "1200 rpm for 10 min", "a 96-well plate", "z = 12.34, P = 1.2e-10",
    # numbers of card length that fail Luhn or issuer checks
    "order 4111 1111 1111 1112", "ref 5500-0000-0000-0005", "tracking 1234567812345678",
    "serial 9876543210123456", "batch 0000 1111 2222 3333", "id 3782-822463-10006",
    # other numbers people write
    "IP 192.168.1.1", "10.0.0.254:8080", "2001:db8::1", "MAC 00:1B:44:11:3A:B7",
    "UUID 123e4567-e89b-12d3-a456-426614174000", "commit 4f2a9c1e7b3d", "sha256 9f86d081884c7d65",
    "Unit 3 trips at 287.5 rpm", "Room 1.23, Building 4", "Bay 9, rack 12, slot 3", "part no. 00123-456-789",
    "postcode SW1A 1AA", "ZIP 90210", "lot 2023-0456-78", "case 2019-CV-01234",
    # IBANs, ids and cards that fail their checks
    "GB82 WEST 1234 5698 7654 33", "DE89 3704 0044 0532 0130 01", "FR14 2004 1010 0505 0001 3M02 607",
    "000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "12345678A", "X1234567A",
    "RSSMRA85T10A562X", "AB123456C in the table", "QQ 12 34 56 C",
    # e-mail-like text that is no address
    "@username on the forum", "user@localhost", "the @-sign", "foo@bar", "name@domain",
    "email at example dot", "IGH@/BCL3 fusion",
]


def scifact_sentences(corpus: Path, count: int, skip_docs: set[str]) -> list[str]:
    """The first ``count`` sentences of SciFact abstracts that hold at least six digits (the numbers that
    could pass for personal data), leaving out the abstracts that print their authors' contacts."""
    sentences = []
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if str(record.get("_id", record.get("id"))) in skip_docs:
                continue
            for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z])", record.get("text", "")):
                if sum(char.isdigit() for char in sentence) >= 6:
                    sentences.append(sentence)
                    if len(sentences) == count:
                        return sentences
    return sentences


def build(seed: int = SEED, scifact: Path | None = None, scifact_count: int = 100,
          skip_docs: set[str] = frozenset()) -> list[Item]:
    """The labelled items; with ``scifact`` (its corpus.jsonl), also its sentences that hold numbers as
    negatives."""
    rng = random.Random(seed)
    items: list[Item] = []
    for index, address in enumerate(EMAILS * 4):
        template = EMAIL_TEMPLATES[index % len(EMAIL_TEMPLATES)]
        values = [("EMAIL", address)] + [("EMAIL", rng.choice(EMAILS)) for _ in range(template.count("{}") - 1)]
        items.append(_item(template, values, note="email"))
    for index, number in enumerate(phone_numbers(rng) * 3):
        items.append(_item(PHONE_TEMPLATES[index % len(PHONE_TEMPLATES)], [("PHONE", number)], note="phone"))
    for index, (prefix, length) in enumerate(CARD_ISSUERS * 3):
        shown = rng.choice(card_formats(card_number(rng, prefix, length)))
        items.append(_item(CARD_TEMPLATES[index % len(CARD_TEMPLATES)], [("CARD", shown)], note=f"card {prefix}"))
    for index, country in enumerate(sorted(IBAN_FORMATS) * 3):
        value = iban(rng, country)
        shown = [value, spaced_iban(value), spaced_iban(value).lower()][index % 3]
        items.append(_item(IBAN_TEMPLATES[index % len(IBAN_TEMPLATES)], [("IBAN", shown)], note=f"iban {country}"))
    ids = [ssn(rng) for _ in range(14)] + [nino(rng, spaced=True) for _ in range(8)] + [dni(rng) for _ in range(8)]
    ids += [nie(rng) for _ in range(6)] + [codice_fiscale(rng) for _ in range(8)]
    for index, value in enumerate(ids):
        items.append(_item(ID_TEMPLATES[index % len(ID_TEMPLATES)], [("NATIONAL_ID", value)], note="national id"))
    for template in NINO_CUE_TEMPLATES * 2:
        items.append(_item(template, [("NATIONAL_ID", nino(rng, spaced=False))], note="nino solid"))
    # several kinds in one text, as a pasted record would hold them
    for _ in range(12):
        items.append(_item("Customer record: {}, {}, card {}, IBAN {}, SSN {}.", [
            ("EMAIL", rng.choice(EMAILS)), ("PHONE", rng.choice(phone_numbers(rng))),
            ("CARD", card_formats(card_number(rng, "4", 16))[1]), ("IBAN", spaced_iban(iban(rng, "DE"))),
            ("NATIONAL_ID", ssn(rng)),
        ], note="mixed"))
    for text, values in ODD_FORMATS:
        spans = [(kind, text.index(value), text.index(value) + len(value)) for kind, value in values]
        items.append(Item(text, spans, "odd_format", "a format the rules were not written for"))
    items += [Item(text, [], "negative", "hard negative") for text in HARD_NEGATIVES]
    # invalid-Luhn numbers of every issuer, in every format
    for prefix, length in CARD_ISSUERS:
        items.append(Item(f"Invoice number {rng.choice(card_formats(invalid_card_number(rng, prefix, length)))}.",
                          [], "negative", "invalid Luhn"))
    if scifact is not None and scifact.is_file():
        items += [Item(text, [], "negative", "SciFact sentence")
                  for text in scifact_sentences(scifact, scifact_count, skip_docs)]
    return items
