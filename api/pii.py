"""Personal data in logged text: e-mail addresses, phone numbers, payment cards, IBANs and national ids,
found by rules and replaced by ``<EMAIL>``, ``<PHONE>``, ``<CARD>``, ``<IBAN>``, ``<NATIONAL_ID>``.

Used on what the service writes to its logs (the questions, answers, reasoning and chat messages of
the audit log, the message and traceback of a log line) under ``VERIRAG_API_LOG_REDACTION=pii``, the
default; answers sent to clients are never changed. Every kind with a checksum is validated, so that
the numbers of scientific text stay:

- **cards**: 13-19 digits (alone, or in groups split by spaces or dashes), an issuer's first digits
  (3-6, or 2221-2720) and the Luhn check;
- **IBANs**: country code, check digits, the country's length, and ISO 13616's mod-97 check;
- **national ids**: US SSN (``###-##-####`` without the never-issued areas 000, 666, 9xx; split by
  spaces or not at all after "SSN"), UK National Insurance numbers (prefix rules; written solid only
  after "NI number" or the like), Spanish DNI/NIE and Italian codice fiscale (check letters);
- **phones**: ``+CC`` or ``00CC`` international numbers, North American ``(555) 123-4567`` shapes, and
  trunk-prefixed national ones (``020 7946 0958``, ``01 23 45 67 89``, ``030 12345678``); a bare run of
  digits counts only after a word such as "phone", "tel", "call" or "fax". Years, ranges (1998–2001),
  dates, page ranges, DOIs, ISBNs and measurements do not have these shapes.

Precision and recall per kind are measured on a labelled set, with SciFact abstracts as the hard
negatives: ``bench/pii_redaction.py``. Not found: names, postal addresses, dates of birth, and
numbers written in words or spread over lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LogRedaction = Literal["off", "pii"]
KINDS = ("EMAIL", "PHONE", "CARD", "IBAN", "NATIONAL_ID")
# When two findings overlap, the earlier kind here wins: an IBAN's digits never become a phone number.
_PRIORITY = {"EMAIL": 0, "IBAN": 1, "CARD": 2, "NATIONAL_ID": 3, "PHONE": 4}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


# -- e-mail ------------------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.%+'-])[\w%+-](?:[\w.%+'-]{0,62}[\w%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)

# -- payment cards -----------------------------------------------------------------------------------
# Unsplit, or groups of 3-6 digits joined by one kind of separator (4-4-4-4, 4-6-5, 4-4-4-4-3).
_CARD = re.compile(r"(?<![\w.,/+-])(?:\d{13,19}|\d{4}(?P<sep>[ -])\d{3,6}(?:(?P=sep)\d{3,6}){1,3})(?![\w]|[.,/-]\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_digits_ok(digits: str) -> bool:
    """The issuers' first digits (2221-2720 for the newer Mastercard range, so that lists of years never
    count), a card's length, and the Luhn check."""
    issuer = digits[0] in "3456" or (digits[0] == "2" and 2221 <= int(digits[:4]) <= 2720)
    return 13 <= len(digits) <= 19 and issuer and luhn_valid(digits)


# -- IBANs -------------------------------------------------------------------------------------------
# Lengths from the SWIFT IBAN registry.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
# A start: country code and check digits; the rest is cut to the country's length (single spaces allowed).
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})(?= ?[A-Za-z0-9])")
_IBAN_REST = {length: re.compile(rf"(?: ?[A-Za-z0-9]){{{length - 4}}}(?![A-Za-z0-9])")
              for length in set(IBAN_LENGTHS.values())}


def iban_valid(compact: str) -> bool:
    """ISO 13616: the country's length, then the number with its first four characters moved to the
    end, letters as 10-35, is 1 modulo 97."""
    compact = compact.upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[4:].isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _iban_findings(text: str) -> list[Finding]:
    findings = []
    for match in _IBAN_START.finditer(text):
        length = IBAN_LENGTHS.get(match.group(1).upper())
        rest = _IBAN_REST[length].match(text, match.end()) if length else None
        if rest is not None and iban_valid(text[match.start():rest.end()].replace(" ", "")):
            findings.append(Finding("IBAN", match.start(), rest.end()))
    return findings


# -- national ids ------------------------------------------------------------------------------------
# US SSN: never issued with area 000, 666 or 9xx, group 00 or serial 0000.
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w]|-\d)")
# Split by spaces or not split at all, an SSN needs the word before it.
_SSN_CUED = re.compile(
    r"(?i)\b(?:SSN|social security(?: number| no\.?)?)[:#]?\s*(?:is\s+)?"
    r"(?P<number>(?!000|666|9\d\d)\d{3}([ -]?)(?!00)\d{2}\2(?!0000)\d{4})(?![\w]|[.,/-]\d)"
)
# UK National Insurance number: two prefix letters (D, F, I, Q, U, V never; O never second; a few pairs
# never issued), six digits, a suffix A-D. Written in pairs it stands alone; written solid it has the
# shape of compound codes (the cannabinoid antagonist SR141716A), so it needs a word saying what it is.
_NINO_PREFIX = r"(?<![A-Za-z0-9])(?!(?:BG|GB|NK|KN|TN|NT|ZZ))[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
_NINO_SPACED = re.compile(_NINO_PREFIX + r" \d{2} \d{2} \d{2} [A-D](?![A-Za-z0-9])", re.IGNORECASE)
_NINO_SOLID = re.compile(
    r"(?i)\b(?:NI|NINO|national insurance|insurance)\b(?:\s*(?:no|number|#))?\.?\s*(?:is|:)?\s*"
    r"(?P<number>" + _NINO_PREFIX + r"\d{6}[A-D])(?![A-Za-z0-9])"
)
# Spanish DNI (8 digits) and NIE (X, Y or Z and 7 digits), each with its check letter.
_DNI = re.compile(r"(?<![\w-])([XYZ]?)-?(\d{7,8})-?([A-Z])(?![\w-])", re.IGNORECASE)
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
# Italian codice fiscale: surname, name, birth date and place, check letter.
_CODICE_FISCALE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{6}\d{2}[ABCDEHLMPRST]\d{2}[A-Z]\d{3}[A-Z](?![A-Za-z0-9])",
                             re.IGNORECASE)
# What a character at an odd position (1st, 3rd, …) adds to the check sum; at even positions digits add
# their value and letters their place in the alphabet (A = 0).
CODICE_FISCALE_ODD = dict(zip(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10,
     22, 25, 24, 23],
    strict=True,
))


def dni_valid(prefix: str, digits: str, letter: str) -> bool:
    prefix = prefix.upper()
    if (prefix and len(digits) != 7) or (not prefix and len(digits) != 8):
        return False
    number = int(str("XYZ".index(prefix)) + digits) if prefix else int(digits)
    return DNI_LETTERS[number % 23] == letter.upper()


def codice_fiscale_valid(code: str) -> bool:
    code = code.upper()
    total = 0
    for position, char in enumerate(code[:15]):
        total += CODICE_FISCALE_ODD[char] if position % 2 == 0 else (int(char) if char.isdigit() else ord(char) - 65)
    return chr(65 + total % 26) == code[15]


def _national_id_findings(text: str) -> list[Finding]:
    findings = [Finding("NATIONAL_ID", m.start(), m.end()) for m in _SSN.finditer(text)]
    findings += [Finding("NATIONAL_ID", m.start("number"), m.end("number")) for m in _SSN_CUED.finditer(text)]
    findings += [Finding("NATIONAL_ID", m.start(), m.end()) for m in _NINO_SPACED.finditer(text)]
    findings += [Finding("NATIONAL_ID", m.start("number"), m.end("number")) for m in _NINO_SOLID.finditer(text)]
    findings += [Finding("NATIONAL_ID", m.start(), m.end()) for m in _DNI.finditer(text)
                 if dni_valid(m.group(1), m.group(2), m.group(3))]
    findings += [Finding("NATIONAL_ID", m.start(), m.end()) for m in _CODICE_FISCALE.finditer(text)
                 if codice_fiscale_valid(m.group(0))]
    return findings


# -- phone numbers -----------------------------------------------------------------------------------
_PHONE_END = r"(?![\w]|[.,/-]\d)"
# +CC or 00CC, then groups (an area code may sit in parentheses, a UK "(0)" too).
_PHONE_INTERNATIONAL = re.compile(
    r"(?:(?<![\w+])\+|(?<![\w.,/+-])00)[1-9]\d{0,2}(?:[ .-]?\(0\))?(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}"
    + _PHONE_END
)
_TRUNK_AFTER_CODE = re.compile(r"00\d{1,3}[ .-]0")
# North America: area and exchange codes start 2-9.
_PHONE_NANP = re.compile(
    r"(?<![\w.+/-])(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}" + _PHONE_END
)
# Trunk prefix 0 and an area code (in parentheses or not), then groups: UK, France, Germany and most of
# Europe. Groups split by dots only in the French pairs shape.
_PHONE_NATIONAL = re.compile(
    r"(?<![\w.,+/-])(?:\(0[1-9]\d{0,3}\) ?|0[1-9]\d{0,3}[ /-]?)\d{2,8}(?:[ -]\d{2,8}){0,4}" + _PHONE_END
    + r"|(?<![\w.,+/-])0[1-9](?:\.\d{2}){4}" + _PHONE_END
)
# A bare number counts right after a word that says it is one ("phone: 2025550143", "call 555 0123").
_PHONE_CUED = re.compile(
    r"(?i)\b(?:phone|telephone|tel|mobile|mob|cellphone|fax|call|sms|whatsapp|hotline|contact number)\b\.?"
    r"(?:\s*(?:no|nr|number|#)\.?)?\s*(?:is|at|on|:|-)?\s*(?P<number>\+?\(?\d[\d ().-]{5,22}\d)" + _PHONE_END
)


def _digit_count(text: str) -> int:
    return sum(char.isdigit() for char in text)


def _phone_findings(text: str) -> list[Finding]:
    findings = []
    for match in _PHONE_INTERNATIONAL.finditer(text):
        number = match.group(0)
        digits = _digit_count(number)
        # "00" is also how codes and counts start: only a long, split number counts.
        plus = number.startswith("+")
        # After a country code the trunk 0 is dropped (Italy keeps it): "0044 0532 …" is no phone number.
        trunk_after_code = not plus and _TRUNK_AFTER_CODE.match(number) and not number.startswith("0039")
        split = any(char in " -()" for char in number)
        if 8 <= digits <= 15 and (plus or (digits >= 10 and split and not trunk_after_code)):
            findings.append(Finding("PHONE", match.start(), match.end()))
    for match in _PHONE_NANP.finditer(text):
        findings.append(Finding("PHONE", match.start(), match.end()))
    for match in _PHONE_NATIONAL.finditer(text):
        number = match.group(0)
        digits = _digit_count(number)
        split = any(char in " ./-()" for char in number)
        uk_mobile = number.startswith("07") and digits == 11
        if 9 <= digits <= 12 and (split or uk_mobile):
            findings.append(Finding("PHONE", match.start(), match.end()))
    for match in _PHONE_CUED.finditer(text):
        if 7 <= _digit_count(match.group("number")) <= 15:
            findings.append(Finding("PHONE", match.start("number"), match.end("number")))
    return findings


# -- all kinds ---------------------------------------------------------------------------------------
def find_pii(text: str) -> list[Finding]:
    """Every finding in ``text``, without overlaps, in text order."""
    if not text:
        return []
    candidates = [Finding("EMAIL", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    candidates += _iban_findings(text)
    candidates += [Finding("CARD", m.start(), m.end()) for m in _CARD.finditer(text)
                   if _card_digits_ok(re.sub(r"[ -]", "", m.group(0)))]
    candidates += _national_id_findings(text)
    candidates += _phone_findings(text)
    chosen: list[Finding] = []
    for finding in sorted(candidates, key=lambda f: (_PRIORITY[f.kind], -(f.end - f.start), f.start)):
        if all(finding.end <= kept.start or finding.start >= kept.end for kept in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


def redact_pii(text: str) -> str:
    """``text`` with each finding replaced by ``<KIND>``."""
    findings = find_pii(text)
    if not findings:
        return text
    pieces, position = [], 0
    for finding in findings:
        pieces.append(text[position:finding.start])
        pieces.append(f"<{finding.kind}>")
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces)


def redact_log_text(value, redaction: LogRedaction):
    """A logged value (text, or lists and mappings of text, like chat messages) under ``redaction``."""
    if redaction == "off":
        return value
    if isinstance(value, str):
        return redact_pii(value)
    if isinstance(value, dict):
        return {key: redact_log_text(item, redaction) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_log_text(item, redaction) for item in value]
    return value
