"""The checkable items in a text, found by regex: quantities, dates, times, codes, quotes and names.

``extract(text)`` reads a *cleaned* text (``clean``: citations blanked, typographic quotes and dashes
mapped to ASCII, same length as the input, so every ``start`` is an offset into the original too).
Extraction masks what it has read, in this order, so nothing is read twice:

1. dates: ISO ``2024-02-13``; ``14 March 2025``, ``March 14, 2025``; ``13.02.2024`` (day first);
   ``13/02/2024`` (day or month first, whichever is valid; both when both are); ``March 2025``; ``14 March``.
2. times: ``14:30``, ``2:30 pm``, ``5 p.m.`` → ``HH:MM``.
3. codes: tokens mixing letters and digits (``X200``, ``ISO-9001``, ``v2.3.1``, ``COVID-19``), unless
   they are a number with a unit (``42kPa``, ``30-day``).
4. quantities: numbers with thousands separators (``1,200``; narrow spaces), decimals, signs, ordinals,
   scale words (``1.2 million``, ``5k``), ranges (``3–5``, ``3 to 5``, ``between 3 and 5``), an optional
   currency before (``€42``, ``USD 5``) and a unit after (``42 kPa`` = ``42kPa``; ``min`` = ``minutes``).
   Units of one dimension convert exactly (``kPa``/``bar``/``MPa``, ``ms``/``s``/``min``/``h``/``days``,
   metric lengths, masses, powers…); others (``psi``, ``°F``, miles) only compare with themselves. A
   bare number followed by a noun counts that noun (``3 pumps``: dimension ``noun:pump``).
5. names: runs of capitalised words (``Bank of England``); a run that opens a sentence loses its first
   word when that is an ordinary word (``The``), and a single capitalised word that opens a sentence is
   not a name.

Quotes ("…", “…”, «…», '…') are read from the whole cleaned text. ``Items.values`` holds every number
written anywhere (as written and in base units, range ends, years of dates, number words) for
presence checks of bare numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.citations import CITATION_GROUP
from rag.verify.lexicon import ADJECTIVES, CURRENCY_PREFIX, MONTHS, NOT_COUNT_NOUNS, NUMBER_WORDS, SCALES
from rag.verify.lexicon import NOT_NAMES, UNIT_TABLE

_TRANSLATE = str.maketrans(
    {**dict.fromkeys("‘’‚‛′", "'"), **dict.fromkeys("“”„‟«»″", '"'), **dict.fromkeys("–—‒−‐‑", "-"),
     **dict.fromkeys("\u2007\u200b*`", " "), "º": "°"}
)  # fmt: skip


def clean(text: str, *, source_mentions: bool = False) -> str:
    """Length-preserving normalisation; ``source_mentions`` also blanks "S2" / "Source 2" (claims only)."""
    text = CITATION_GROUP.sub(lambda m: " " * len(m.group()), text.translate(_TRANSLATE))
    if source_mentions:
        text = _SOURCE_MENTION.sub(lambda m: " " * len(m.group()), text)
    return text


_SOURCE_MENTION = re.compile(r"(?<![\w-])S\d{1,2}\b|\b[Ss]ources?\s*#?\s*S?\d{1,2}(?:\s*(?:,|&|and|or)\s*S?\d{1,2})*\b")


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


# ---- units ---------------------------------------------------------------------------------------
_UNITS: dict[str, tuple[str, str, float]] = {}
for _canonical, _dimension, _factor, _surfaces in UNIT_TABLE:
    for _surface in _surfaces.split():
        _surface = _surface.replace("_", " ")
        _UNITS[_surface] = (_canonical, _dimension, float(_factor))
        if len(_surface) >= 4 and _surface.isalpha():
            _UNITS[_surface.lower()] = (_canonical, _dimension, float(_factor))
UNIT_SURFACES = frozenset(_UNITS)
_UNITS_COMPACT = {surface.replace(" ", ""): unit for surface, unit in _UNITS.items()}
_UNIT_ALTERNATION = "|".join(
    rf"(?i:{re.escape(s)})" if len(s) >= 4 and s.isalpha() else re.escape(s).replace(r"\ ", r"\s?")
    for s in sorted(_UNITS, key=len, reverse=True)
)
_NUM = r"\d{1,3}(?:[,\u00a0\u202f\u2009]\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?"
_QUANTITY = re.compile(
    r"(?:(?P<cur>US\$|[€$£¥]|EUR|USD|GBP|CHF|JPY)\s?)?"
    rf"(?<![\w./])(?P<num>{_NUM})(?!\.?\d)(?!/\d)(?P<ord>st|nd|rd|th)?"
    r"(?:\s?(?P<scalew>thousand|million|billion|trillion|bn|mn)\b|(?P<scalea>[kKMB])(?![\w]))?"
    rf"(?:(?:[ \t\u00a0\u202f\u2009]|-)?(?P<unit>{_UNIT_ALTERNATION})(?![\w°/]))?"
)
_WORD_QUANTITY = re.compile(
    rf"\b(?P<word>{'|'.join(NUMBER_WORDS)})(?:[ \t\u00a0\u202f\u2009]|-)(?P<unit>{_UNIT_ALTERNATION})(?![\w°/])", re.IGNORECASE
)
_NUMBER_WORD = re.compile(rf"\b(?:{'|'.join(NUMBER_WORDS)})\b", re.IGNORECASE)
_COUNT_NOUN = re.compile(r"[ \t]+([a-z][a-z-]{2,})\b(?:[ \t]+([a-z][a-z-]{2,})\b)?")
_RANGE_GAP = re.compile(r"\s*(?:-|to|through|until)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Quantity:
    lo: float  # in the dimension's base unit; lo == hi for a single value
    hi: float
    raw_lo: float  # as written (scale words applied: "1.2 million" → 1200000)
    raw_hi: float
    unit: str  # canonical ("kPa", "%", "EUR"), "" for a bare number, the noun for a count
    dim: str  # "pressure", "time", "cur:EUR", "noun:pump", "" (bare)
    start: int
    end: int
    number: str  # as written: "42", "3–5", "1.2 million", "-5"
    scale: float = 1.0  # "million" → 1e6
    factor: float = 1.0  # unit → base unit

    @property
    def is_range(self) -> bool:
        return self.raw_lo != self.raw_hi

    @property
    def label(self) -> str:
        """"42 kPa", "3–5 bar", "42%", "287.5" (a counted noun is not repeated)."""
        if not self.unit or self.dim.startswith("noun:"):
            return self.number
        return f"{self.number}{'' if self.unit in ('%', '°') else ' '}{self.unit}"


@dataclass(frozen=True, slots=True)
class DateItem:
    options: tuple[tuple[int | None, int | None, int | None], ...]  # (year, month, day); 2 if ambiguous
    start: int
    label: str  # "2024-02-13", "2025-03", "--03-14", or as written when ambiguous


@dataclass(frozen=True, slots=True)
class Items:
    quantities: tuple[Quantity, ...]
    dates: tuple[DateItem, ...]
    times: tuple[tuple[str, int], ...]  # ("14:30", start)
    codes: tuple[str, ...]
    quotes: tuple[str, ...]  # normalised: lower-case, single spaces, no edge punctuation
    names: tuple[str, ...]
    values: frozenset[str]  # value_key() of every number written

    @property
    def count(self) -> int:
        return sum(map(len, (self.quantities, self.dates, self.times, self.codes, self.quotes, self.names)))


def value_key(value: float) -> str:
    return f"{value:.9g}"


def fmt(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.9g}"


# ---- dates and times -----------------------------------------------------------------------------
_MON = "|".join(sorted({m.capitalize() for m in MONTHS} | {m.upper() for m in MONTHS if len(m) > 3}, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
_DATE = re.compile(
    r"(?<![\d-])(?P<iy>\d{4})[-/](?P<im>\d{1,2})[-/](?P<id>\d{1,2})(?![\d-])"
    rf"|(?<!\d)(?P<ad>\d{{1,2}}){_ORD}(?:\s+of)?\s+(?P<am>{_MON})\.?,?\s+(?P<ay>\d{{4}})(?!\d)"
    rf"|\b(?P<bm>{_MON})\.?\s+(?P<bd>\d{{1,2}}){_ORD},?\s+(?P<by>\d{{4}})(?!\d)"
    r"|(?<![\d/.-])(?P<n1>\d{1,2})(?P<sep>[/.-])(?P<n2>\d{1,2})(?P=sep)(?P<ny>\d{4})(?![\d/-])"
    rf"|\b(?P<cm>{_MON})\.?,?\s+(?:of\s+)?(?P<cy>\d{{4}})(?!\d)"
    rf"|(?<!\d)(?P<dd>\d{{1,2}}){_ORD}(?:\s+of)?\s+(?P<dm>{_MON})\b"
    rf"|\b(?P<em>{_MON})\.?\s+(?P<ed>\d{{1,2}}){_ORD}(?![\d:.,]\d)(?!\d)"
)
_TIME = re.compile(
    r"(?<![\d:.])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::[0-5]\d)?(?:\s?(?P<ap>[ap])\.?m\b\.?)?(?![\d:])"
    r"|(?<![\d:.])(?P<h2>1[0-2]|0?[1-9])\s?(?P<ap2>[ap])\.?m\b\.?",
    re.IGNORECASE,
)


def _date_label(y: int | None, m: int | None, d: int | None) -> str:
    if y is None:
        return f"--{m:02d}-{d:02d}"
    return f"{y:04d}-{m:02d}" + (f"-{d:02d}" if d is not None else "")


def _date(match: re.Match) -> DateItem | None:
    g = match.groupdict()
    month = lambda name: MONTHS[name.lower().rstrip(".")]  # noqa: E731
    if g["iy"]:
        options = [(int(g["iy"]), int(g["im"]), int(g["id"]))]
    elif g["ay"]:
        options = [(int(g["ay"]), month(g["am"]), int(g["ad"]))]
    elif g["by"]:
        options = [(int(g["by"]), month(g["bm"]), int(g["bd"]))]
    elif g["ny"]:
        a, b, y = int(g["n1"]), int(g["n2"]), int(g["ny"])
        options = [(y, b, a)] if g["sep"] == "." else [(y, b, a), (y, a, b)]
    elif g["cy"]:
        options = [(int(g["cy"]), month(g["cm"]), None)]
    elif g["dm"]:
        options = [(None, month(g["dm"]), int(g["dd"]))]
    else:
        options = [(None, month(g["em"]), int(g["ed"]))]
    options = list(dict.fromkeys(o for o in options if 1 <= o[1] <= 12 and (o[2] is None or 1 <= o[2] <= 31)))
    if not options:
        return None
    label = _date_label(*options[0]) if len(options) == 1 else match.group().strip()
    return DateItem(tuple(options), match.start(), label)


def _time(match: re.Match) -> str:
    hour = int(match.group("h") or match.group("h2"))
    minute = int(match.group("m") or 0)
    half = (match.group("ap") or match.group("ap2") or "").lower()
    if half and hour <= 12:
        hour = hour % 12 + (12 if half == "p" else 0)
    return f"{hour:02d}:{minute:02d}"


# ---- quantities ----------------------------------------------------------------------------------
_CODE = re.compile(
    r"(?<![\w.-])(?=[A-Za-z0-9._/-]*\d)(?=[A-Za-z0-9._/-]*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?(?![\w-])"
)


def _unit(surface: str) -> tuple[str, str, float]:
    surface = " ".join(surface.split())
    return _UNITS.get(surface) or _UNITS.get(surface.lower()) or _UNITS_COMPACT[surface.replace(" ", "")]


def _count_noun(text: str, end: int) -> str | None:
    match = _COUNT_NOUN.match(text, end)
    if not match or match.group(1) in NOT_COUNT_NOUNS:
        return None
    noun = match.group(1)
    if (noun in ADJECTIVES or noun.endswith(("ing", "ed"))) and match.group(2) and match.group(2) not in NOT_COUNT_NOUNS:
        noun = match.group(2)
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") and len(noun) > 3 else noun


def _number_token(text: str, match: re.Match) -> Quantity:
    written = float(re.sub(r"[,\u00a0\u202f\u2009]", "", match.group("num")))
    start = match.start()
    if not match.group("cur") and start >= 1 and text[start - 1] == "-" and (start == 1 or text[start - 2] in " \t\n(=:~[<>"):
        written, start = -written, start - 1
    number = fmt(written)
    raw = written
    if match.group("scalew"):
        raw, number = written * SCALES[match.group("scalew")], f"{number} {match.group('scalew')}"
    elif match.group("scalea"):
        raw, number = written * SCALES[match.group("scalea")], number + match.group("scalea")
    unit, dim, factor = "", "", 1.0
    if match.group("unit"):
        unit, dim, factor = _unit(match.group("unit"))
    elif match.group("cur"):
        unit = CURRENCY_PREFIX[match.group("cur")]
        dim = "cur:" + unit
    elif not match.group("ord") and not (raw.is_integer() and 1000 <= raw < 3000 and "," not in match.group("num")):
        noun = _count_noun(text, match.end())
        if noun:
            unit, dim = noun, "noun:" + noun
    scale = raw / written if written else 1.0
    return Quantity(raw * factor, raw * factor, raw, raw, unit, dim, start, match.end(), number, scale, factor)


def _merge_ranges(text: str, tokens: list[Quantity]) -> list[Quantity]:
    """"3–5 bar", "3 to 5 bar", "between 3 and 5 bar", "3 bar to 5 bar", "3–5 million EUR" → one range."""
    out: list[Quantity] = []
    for token in tokens:
        previous = out[-1] if out else None
        if (
            previous is not None
            and not previous.is_range
            and not token.is_range
            and previous.dim in ("", token.dim)
            and not previous.dim.startswith("noun:")
        ):
            gap = text[previous.end : token.start]
            between = gap.strip().lower() == "and" and re.search(
                r"\bbetween\s+$", text[max(0, previous.start - 12) : previous.start], re.IGNORECASE
            )
            if _RANGE_GAP.fullmatch(gap) or between:
                raw_lo = previous.raw_lo * (token.scale if previous.scale == 1 and not previous.dim else 1.0)
                lo = previous.lo if previous.dim else raw_lo * token.factor
                number = f"{previous.label} – {token.number}" if previous.dim else f"{previous.number}–{token.number}"
                out[-1] = Quantity(lo, token.hi, raw_lo, token.raw_hi, token.unit, token.dim, previous.start, token.end,
                                   number, token.scale, token.factor)  # fmt: skip
                continue
        out.append(token)
    return out


# ---- names and quotes ----------------------------------------------------------------------------
_CAPITALISED = r"(?:(?:[A-Z]\.){2,}(?=[ \t]+[A-Z])|[A-Z](?:[A-Za-z'&]|[.-](?=[A-Za-z]))*)"
_CONNECTOR = r"(?:of|de|del|der|den|van|von|la|le|du|da|di|the|for)"
_NAME = re.compile(rf"(?<![\w'&.-]){_CAPITALISED}(?:[ \t]+(?:{_CONNECTOR}[ \t]+){{0,2}}{_CAPITALISED})*")
_CONNECTORS = frozenset("of de del der den van von la le du da di the for".split())
_LINE_START = re.compile(r"[\s\-•>#()\[\]\"'\d.)]*")
_QUOTE = re.compile(r'"([^"\n]{1,400}?)"|(?<![\w])\'([^\'\n]{1,200}?)\'(?![\w])')
_EDGE_PUNCTUATION = ".,;:!?\"' "


def normalise(text: str) -> str:
    """Lower-case, single-spaced: how quotes and names are compared."""
    return " ".join(text.lower().split())


def _at_sentence_start(text: str, position: int) -> bool:
    line_start = text.rfind("\n", 0, position) + 1
    if _LINE_START.fullmatch(text, line_start, position):
        return True
    before = text[line_start:position].rstrip(" \t\"'([")
    return not before or before[-1] in ".!?"


def _names(text: str) -> list[str]:
    names: list[str] = []
    for match in _NAME.finditer(text):
        words = match.group().split()
        if _at_sentence_start(text, match.start()):
            if words[0].lower() in NOT_NAMES:
                words = words[1:]
            elif len(words) == 1:
                continue
        while words and (words[0].lower() in _CONNECTORS or words[0].lower() in NOT_NAMES):
            words = words[1:]
        while words and (words[-1].lower() in _CONNECTORS or words[-1].lower() in NOT_NAMES):
            words = words[:-1]
        if not words or (len(words) == 1 and (len(words[0]) < 2 or words[0].lower() in NOT_NAMES)):
            continue
        name = " ".join(words)
        name = name[:-2] if name.endswith("'s") else name
        if name not in names:
            names.append(name)
    return names


def _quotes(text: str) -> list[str]:
    quotes: list[str] = []
    for match in _QUOTE.finditer(text):
        quote = normalise(match.group(1) or match.group(2)).strip(_EDGE_PUNCTUATION)
        if re.search(r"[^\W_]", quote) and quote not in quotes:
            quotes.append(quote)
    return quotes


# ---- extraction ----------------------------------------------------------------------------------


def extract(text: str) -> Items:
    """Every checkable item in a cleaned text (see the module docstring)."""
    masked = text
    dates: list[DateItem] = []
    for match in _DATE.finditer(masked):
        item = _date(match)
        if item:
            dates.append(item)
            masked = _blank(masked, match.start(), match.end())
    times = []
    for match in _TIME.finditer(masked):
        times.append((_time(match), match.start()))
        masked = _blank(masked, match.start(), match.end())
    codes: list[str] = []
    for match in _CODE.finditer(masked):
        quantity = _QUANTITY.fullmatch(match.group())
        if quantity or match.group() in _UNITS or re.fullmatch(r"\d+(?:\.\d+)?-[a-z]+", match.group()):
            continue
        if match.group() not in codes:
            codes.append(match.group())
        masked = _blank(masked, match.start(), match.end())
    tokens = [_number_token(masked, m) for m in _QUANTITY.finditer(masked)]
    for match in _WORD_QUANTITY.finditer(masked):
        unit, dim, factor = _unit(match.group("unit"))
        value = float(NUMBER_WORDS[match.group("word").lower()])
        tokens.append(Quantity(value * factor, value * factor, value, value, unit, dim, match.start(), match.end(),
                               fmt(value), 1.0, factor))  # fmt: skip
    for match in _NUMBER_WORD.finditer(masked):
        word = match.group().lower()
        noun = _count_noun(masked, match.end()) if word not in ("one", "zero") else None
        if noun and not any(t.start <= match.start() < t.end for t in tokens):
            value = float(NUMBER_WORDS[word])
            tokens.append(Quantity(value, value, value, value, noun, "noun:" + noun, match.start(), match.end(), fmt(value)))
    quantities = _merge_ranges(masked, sorted(tokens, key=lambda q: q.start))
    for quantity in quantities:
        masked = _blank(masked, quantity.start, quantity.end)
    values = {value_key(v) for q in quantities for v in (q.lo, q.hi, q.raw_lo, q.raw_hi)}
    values.update(value_key(o[0]) for d in dates for o in d.options if o[0] is not None)
    values.update(value_key(NUMBER_WORDS[w.lower()]) for w in _NUMBER_WORD.findall(masked))
    return Items(tuple(quantities), tuple(dates), tuple(times), tuple(codes), tuple(_quotes(text)),
                 tuple(_names(masked)), frozenset(values))  # fmt: skip
