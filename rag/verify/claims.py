"""Split an answer or a reasoning trace into claims that can be checked one by one. Pure regex, no models.

``split_claims(text, origin)`` returns every claim in order; ``Claim.text`` is always exactly
``text[char_start:char_end]`` (inline ``[S#]`` markers included; ``Claim.plain`` drops them).

* **Lines.** A line break ends a sentence unless the next line continues it (starts lower-case and the
  line before ends without ``.!?:;``). List markers (``-``, ``*``, ``•``, ``1.``, ``(a)``, ``#``) and
  blank lines always start a new block; the marker itself is not part of the claim.
* **Sentences.** ``.!?…`` followed by white space ends a sentence, except after abbreviations
  (``e.g.``, ``Dr.``, ``vs.``, ``approx.``), number words before a digit (``No. 5``, ``Fig. 3``,
  ``p. 12``), and dotted acronyms / initials / ``etc.`` unless the next word is a usual sentence
  opener (``U.S. Army`` stays, ``in the U.S. The pump…`` splits), or when the next word starts
  lower-case. Decimals never split (no white space). Citations right after the stop belong to the
  sentence before it (``… 42 kPa. [S2] Next …``); a line holding only citations joins the claim above.
* **Independent clauses.** ``, and`` / ``and`` / ``but`` / ``whereas`` / ``, while`` / ``, yet`` /
  ``, so`` / ``;`` split a sentence only when both sides look like clauses: the left side has a verb
  and the right side starts with a subject (determiner, pronoun, capitalised word) followed by a verb.
  ``salt and pepper``, ``between 3 and 5 bar``, ``The pump and the valve are tested`` stay whole; a
  right side without its own subject (``… and stops at night``) stays with the left. A part with its
  own citations keeps them; a part without inherits all of the sentence's.
* **Kinds** (first that applies): ``question`` (ends with ``?``), ``abstention`` (the prompt's
  ``ABSTAIN_PHRASE`` and paraphrases: "the sources do not mention…", "not in the provided sources",
  "I cannot find…", "there is no information…"), ``process`` (trace talk: "Let me check…", "I need
  to…", "Looking at S2", "First, I'll…", "Wait,", headings and "…:" label lines), ``hedge`` ("might",
  "possibly", "I think", "it seems"…), else ``factual``. Questions and process sentences are never split;
  a hedge that opens the sentence ("I think …") covers all its parts. Nothing with a letter or digit
  in it is dropped.

``statements_about_sources(trace)`` picks the trace claims that assert what a source says
("S2 says…", "According to [S1], …", "Source 3 states…", "In S2, …") with the labels named in the
sentence, bare or bracketed. Such statements are ``factual`` even when they open with process talk
("Looking at S2, the valve opens at 42 kPa"), but intentions ("Let me check what S2 says") are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rag.citations import CITATION_GROUP, cited_labels
from rag.prompts import ABSTAIN_PHRASE
from rag.verify.lexicon import AFTER_VERB, ALWAYS_ABBREV, AUXILIARIES, DETERMINERS, MAYBE_ABBREV, NUMBER_ABBREV
from rag.verify.lexicon import SENTENCE_OPENERS, SUBJECTS, VERBS

ClaimOrigin = Literal["answer", "trace"]
ClaimKind = Literal["factual", "question", "hedge", "process", "abstention"]
CHECKABLE_KINDS: frozenset[str] = frozenset({"factual"})


@dataclass(frozen=True, slots=True)
class Claim:
    text: str  # exactly the input's text[char_start:char_end]
    origin: ClaimOrigin
    citations: tuple[str, ...]  # "S1", "S3" … in order of appearance
    char_start: int
    char_end: int
    kind: ClaimKind = "factual"

    @property
    def checkable(self) -> bool:
        return self.kind in CHECKABLE_KINDS

    @property
    def plain(self) -> str:
        """The text without [S#] markers, white space collapsed: what a judge reads."""
        return _PUNCT_SPACE.sub(r"\1", " ".join(CITATION_GROUP.sub(" ", self.text).split()))


_PUNCT_SPACE = re.compile(r"\s+([.,;:!?])")
LIST_MARKER = re.compile(r"[ \t]*(?:[-*+•·‣▪◦–—][ \t]+|\(?\d{1,3}[.)][ \t]+|\(?[a-z][.)][ \t]+|#{1,6}[ \t]+|>[ \t]*)")
_STOP = re.compile(r"""[.!?…]+["'”’»)]*(?=\s|$)""")
_CITATIONS_ONLY = re.compile(rf"(?:{CITATION_GROUP.pattern}[\s.,;]*)+", re.IGNORECASE)
_ALNUM = re.compile(r"[^\W_]")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")


def _blocks(text: str, wrapped: bool) -> list[tuple[int, int, bool]]:
    """(start, end, is_heading) of each run of lines that belong together, list markers cut off."""
    blocks: list[list] = []
    offset, previous_blank = 0, True
    for line in text.split("\n"):
        start, end = offset, offset + len(line)
        offset = end + 1
        marker = LIST_MARKER.match(text, start, end)
        heading = line.lstrip().startswith("#")
        content = marker.end() if marker else start
        while content < end and text[content].isspace():
            content += 1
        stop = end
        while stop > content and text[stop - 1].isspace():
            stop -= 1
        if content >= stop:
            previous_blank = True
            continue
        if blocks and not marker and not previous_blank and not blocks[-1][2]:
            last = text[blocks[-1][1] - 1]
            if last not in ".!?:;" and (wrapped or text[content].islower()):
                blocks[-1][1] = stop
                previous_blank = False
                continue
        blocks.append([content, stop, heading])
        previous_blank = False
    return [(s, e, h) for s, e, h in blocks]


def _sentence_end(text: str, stop: re.Match, block_start: int, block_end: int) -> int | None:
    """Where the sentence ends if this stop ends it (trailing citations included), else None."""
    end = stop.end()
    position = end
    while True:
        while position < block_end and text[position].isspace():
            position += 1
        cite = CITATION_GROUP.match(text, position, block_end)
        if not cite:
            break
        end = position = cite.end()
    if position >= block_end:
        return end
    following = text[position]
    core = stop.group().rstrip("\"'”’»)")
    if "?" in core or "!" in core:
        return end
    if core != ".":  # ellipsis
        return end if following.isupper() or following.isdigit() else None
    before = re.search(r"(\S+)$", text[max(block_start, stop.start() - 30) : stop.start()])
    token = before.group(1).lstrip("(\"'[“‘") if before else ""
    low = token.lower()
    if low in ALWAYS_ABBREV:
        return None
    if low in NUMBER_ABBREV and following.isdigit():
        return None
    if low in MAYBE_ABBREV or _DOTTED.fullmatch(token) or (len(token) == 1 and token.isupper()):
        word = re.match(r"[\w'’-]+", text[position : position + 30])
        opener = word is not None and word.group().lower() in SENTENCE_OPENERS
        return end if opener or following.isdigit() or following in "\"“‘([" else None
    if following.islower():
        return None
    return end


def sentence_spans(text: str, *, wrapped: bool = False) -> list[tuple[int, int]]:
    """Spans of the sentences in ``text`` (stripped, list markers excluded).

    ``wrapped=True`` reads single line breaks as soft wraps (document text, PDFs); the default treats a
    line break as a sentence end unless the next line starts lower-case (model output)."""
    return [(s, e) for s, e, _ in _sentences(text, wrapped)]


def _sentences(text: str, wrapped: bool = False) -> list[tuple[int, int, bool]]:
    spans: list[tuple[int, int, bool]] = []
    for block_start, block_end, heading in _blocks(text, wrapped):
        cursor = block_start
        pieces: list[tuple[int, int]] = []
        for stop in _STOP.finditer(text, block_start, block_end):
            if stop.start() < cursor:
                continue
            end = _sentence_end(text, stop, block_start, block_end)
            if end is not None:
                pieces.append((cursor, end))
                cursor = end
        if cursor < block_end:
            pieces.append((cursor, block_end))
        for start, end in pieces:
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start >= end:
                continue
            if _CITATIONS_ONLY.fullmatch(text, start, end):
                if spans:  # a stray "[S2]" belongs to the sentence before it
                    spans[-1] = (spans[-1][0], end, spans[-1][2])
                continue
            if _ALNUM.search(text, start, end):
                spans.append((start, end, heading))
    return spans


# ---- independent clauses -------------------------------------------------------------------------

_CONJUNCTION = re.compile(r"(?:,\s*|\s+)(?:and|but|whereas)\s+|,\s*(?:while|yet|so)\s+|\s*;\s+", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][\w'’-]*|\d[\d.,]*")

def _has_verb(words: list[str]) -> bool:
    for i in range(1, len(words)):
        word, previous = words[i], words[i - 1]
        if word in AUXILIARIES or word in VERBS:
            return True
        if previous in DETERMINERS or not word[0].isalpha():
            continue
        if word.endswith("ed") and len(word) > 4:
            return True
        if word.endswith("s") and len(word) > 3 and not word.endswith(("ss", "us", "is", "'s", "’s")):
            following = words[i + 1] if i + 1 < len(words) else None
            if following is None or following in AFTER_VERB or following[0].isdigit():
                return True
    return False


def _clause_words(segment: str) -> list[str]:
    return _WORD.findall(CITATION_GROUP.sub(" ", segment))


def _is_clause(segment: str, needs_subject: bool) -> bool:
    words = _clause_words(segment)
    if len(words) < 2:
        return False
    lowered = [w.lower() for w in words]
    if needs_subject and not (lowered[0] in SUBJECTS or (words[0][0].isupper() and lowered[0] not in AUXILIARIES)):
        return False
    return _has_verb(lowered)


def _inside_brackets_or_quotes(text: str, start: int, position: int) -> bool:
    b = text[start:position]
    return b.count("(") > b.count(")") or b.count('"') % 2 == 1 or b.count("“") > b.count("”")


def clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The independent clauses of the sentence ``text[start:end]`` (see the module docstring)."""
    candidates = [
        m for m in _CONJUNCTION.finditer(text, start, end) if not _inside_brackets_or_quotes(text, start, m.start())
    ]
    parts: list[tuple[int, int]] = []
    cursor = start
    for index, match in enumerate(candidates):
        if match.start() <= cursor:
            continue
        left = text[cursor : match.start()]
        right_end = candidates[index + 1].start() if index + 1 < len(candidates) else end
        right = text[match.end() : right_end]
        if match.group().strip() == ";":
            independent = len(_clause_words(left)) >= 3 and len(_clause_words(right)) >= 3
        else:
            independent = _is_clause(left, needs_subject=False) and _is_clause(right, needs_subject=True)
        if independent:
            parts.append((cursor, match.start()))
            cursor = match.end()
    parts.append((cursor, end))
    trimmed = []
    for s, e in parts:
        while e > s and (text[e - 1].isspace() or text[e - 1] in ",;"):
            e -= 1
        while s < e and text[s].isspace():
            s += 1
        if s < e:
            trimmed.append((s, e))
    return trimmed


# ---- kinds ---------------------------------------------------------------------------------------

_SOURCE_NOUN = (
    r"(?:sources?|documents?|context|passages?|excerpts?|S\d+|\[S\d+[^\]]*\]"
    r"|(?:provided|given|retrieved)\s+(?:texts?|materials?|information|data))"
)
_ABSTENTION = re.compile(
    rf"\b(?:provided\s+|given\s+|available\s+|retrieved\s+)?{_SOURCE_NOUN}\s+(?:\w+\s+)?"
    r"(?:do(?:es)?\s+not|do(?:es)?n['’]t|did\s+not|didn['’]t|never|fails?\s+to)\s+(?:\w+\s+)?"
    r"(?:contain|mention|say|state|include|provide|cover|specify|address|discuss|give|indicate|list|describe|"
    r"explain|answer|report|have|tell|talk|refer|show)"
    rf"|\bnot\s+(?:\w+\s+){{0,2}}?(?:in|by|from|within)\s+(?:the\s+|any\s+of\s+the\s+)?(?:provided\s+|given\s+)?{_SOURCE_NOUN}"
    r"|\bI\s+(?:cannot|can['’]t|could\s+not|couldn['’]t|am\s+unable\s+to|was\s+unable\s+to|was\s+not\s+able\s+to|"
    r"am\s+not\s+able\s+to)\s+(?:find|locate|determine|answer|tell|confirm|verify|see)"
    r"|\bthere\s+(?:is|was|are|were)\s+no\s+(?:\w+\s+)?(?:information|mention|data|details?|evidence|indication|"
    r"reference|record|statement)"
    r"|\bno\s+(?:\w+\s+)?(?:information|mention|data|details?)\s+(?:is\s+|was\s+|are\s+)?(?:given|provided|"
    r"available|found|about|on|regarding|in)\b"
    rf"|\b(?:none|neither)\s+of\s+the\s+{_SOURCE_NOUN}"
    r"|\b(?:insufficient|not\s+enough)\s+information\b|\bI\s+do(?:\s+not|n['’]t)\s+know\b",
    re.IGNORECASE,
)
_FILLER = (
    r"(?:(?:ok(?:ay)?|alright|all\s+right|so|now|well|right|first(?:ly)?|second(?:ly)?|next|then|finally|also|and|but)"
    r"\s*[,:]?\s+)*"
)
_PROCESS = re.compile(
    r"^[\W_]*(?:(?:wait|hmm+|hm+|oh|ah|um+|uh+|ok(?:ay)?|alright)\b\s*[,.!:…-]|"
    + _FILLER
    + r"(?:let\s+me|let['’]s|let\s+us|i\s+(?:need|have\s+to|want|should|must|will|shall|am\s+going|['’]m\s+going|"
    r"can\s+see|see|notice|recall|remember|found|['’]ve\s+found|think\s+i\s+should|am\s+looking|['’]m\s+looking)|"
    r"i['’]ll|i['’]d\s+better|we\s+(?:need|should|must|have\s+to|can|will)|we['’]ll|looking\s+(?:at|back|through|again|for)|"
    r"checking|going\s+back|to\s+answer\s+(?:this|the)|the\s+(?:user|question)\s+(?:asks|is\s+asking|wants|"
    r"mentions)|(?:the\s+)?question\s+is|now\s+i\b))",
    re.IGNORECASE,
)
_INTENT = re.compile(
    r"^[\W_]*" + _FILLER + r"(?:let\s+me|let['’]s|let\s+us|i\s+(?:need|have\s+to|want|should|must|will|am\s+going|"
    r"['’]m\s+going)|i['’]ll|we\s+(?:need|should|must|have\s+to|will)|we['’]ll)\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(?:might|possibly|perhaps|maybe|probably|presumably|apparently|seemingly|(?:un)?likely|"
    r"i\s+(?:think|believe|guess|assume|suppose|suspect|reckon)|i['’]m\s+not\s+sure|i\s+am\s+not\s+sure|not\s+sure|"
    r"it\s+(?:seems|appears|looks\s+like)|seems?\s+to|appears?\s+to|may\s+have|might\s+have|unclear|uncertain)\b",
    re.IGNORECASE,
)
_LEADING_HEDGE = re.compile(
    r"^[\W_]*(?:i\s+(?:think|believe|guess|assume|suppose|suspect)|it\s+(?:seems|appears)|perhaps|maybe|possibly|"
    r"probably|presumably|apparently)\b",
    re.IGNORECASE,
)
_LABEL_LINE = re.compile(r"[^.!?]{0,80}:\s*[*_]*\s*$")
_ABSTAIN_NORMAL = " ".join(ABSTAIN_PHRASE.lower().split()).rstrip(".")


def classify(sentence: str, heading: bool = False) -> ClaimKind:
    """The kind of one sentence or clause (see the module docstring)."""
    bare = CITATION_GROUP.sub(" ", sentence).strip()
    if bare.rstrip("\"'”’»)*_ ").endswith("?"):
        return "question"
    if " ".join(bare.lower().split()).rstrip(". ") == _ABSTAIN_NORMAL or _ABSTENTION.search(bare):
        return "abstention"
    if heading or _PROCESS.match(bare) or (_LABEL_LINE.fullmatch(bare) and len(bare.split()) <= 8):
        return "process"
    if _HEDGE.search(bare):
        return "hedge"
    return "factual"


def split_claims(text: str, origin: ClaimOrigin) -> list[Claim]:
    """Every claim in ``text`` in order, non-checkable ones included (see the module docstring)."""
    if origin not in ("answer", "trace"):
        raise ValueError(f"origin must be 'answer' or 'trace', not {origin!r}")
    out: list[Claim] = []
    for start, end, heading in _sentences(text):
        sentence = text[start:end]
        kind = classify(sentence, heading)
        labels = tuple(cited_labels(sentence))
        if kind in ("question", "process"):
            out.append(Claim(sentence, origin, labels, start, end, kind))
            continue
        parts = clause_spans(text, start, end)
        leading_hedge = kind == "hedge" and bool(_LEADING_HEDGE.match(CITATION_GROUP.sub(" ", sentence)))
        for s, e in parts:
            part_kind = kind if len(parts) == 1 else ("hedge" if leading_hedge else classify(text[s:e]))
            out.append(Claim(text[s:e], origin, tuple(cited_labels(text[s:e])) or labels, s, e, part_kind))
    return out


# ---- statements about sources --------------------------------------------------------------------

_MENTION = r"(?:\[\s*S\d+[^\]]*\]|S\d{1,2}|sources?\s*#?\s*S?\d{1,3}(?:\s*(?:,|&|and|or)\s*S?\d{1,3})*)"
_BARE_MENTION = re.compile(
    r"(?<![\w\[-])S(\d{1,2})\b(?!\s*\])|\bsources?\s*#?\s*S?(\d{1,3}(?:\s*(?:,|&|and|or)\s*S?\d{1,3})*)\b",
    re.IGNORECASE,
)
_ATTRIBUTION_VERB = (
    r"(?:says?|said|states?|stated|mentions?|mentioned|notes?|noted|shows?|showed|shown|reports?|reported|lists?|"
    r"listed|gives?|gave|indicates?|indicated|specif(?:y|ies|ied)|confirms?|confirmed|describes?|described|"
    r"explains?|explained|claims?|claimed|writes?|wrote|defines?|defined|has|have|had|contains?|contained|"
    r"provides?|provided|suggests?|suggested|tells?|told|reads?|puts?|documents?|records?|recommends?|warns?|"
    r"agrees?|talks?|discuss(?:es|ed)?|covers?|covered|refers?|addresses|focuses)"
)
_ATTRIBUTION = re.compile(
    rf"(?<![\w-]){_MENTION}(?:['’]s\s+\w+)?(?:\s+(?:and|&)\s+{_MENTION})*\s*,?\s+(?:\w+\s+){{0,2}}?{_ATTRIBUTION_VERB}\b"
    r"|\b(?:according\s+to|per|as\s+per|as\s+(?:stated|noted|mentioned|shown|described|reported|given|listed|"
    rf"specified)\s+(?:in|by)|based\s+on|from|in|looking\s+at|checking|citing)\s+(?:the\s+)?{_MENTION}",
    re.IGNORECASE,
)


def mentioned_labels(text: str) -> list[str]:
    """Source labels a text names, bracketed or bare ("[S2]", "S2", "Source 2", "sources 1 and 3")."""
    found: list[tuple[int, str]] = []
    for group in CITATION_GROUP.finditer(text):
        found.extend((group.start(), label) for label in cited_labels(group.group()))
    for match in _BARE_MENTION.finditer(text):
        numbers = re.findall(r"\d+", match.group(1) or match.group(2))
        found.extend((match.start(), f"S{int(n)}") for n in numbers)
    labels: list[str] = []
    for _, label in sorted(found, key=lambda item: item[0]):
        if label not in labels:
            labels.append(label)
    return labels


def statements_about_sources(trace: str) -> list[Claim]:
    """Trace claims that assert what a named source says, cited with the sources they name."""
    out: list[Claim] = []
    for start, end, heading in _sentences(trace):
        sentence = trace[start:end]
        if heading or not _ATTRIBUTION.search(sentence) or _INTENT.match(sentence):
            continue
        if classify(sentence) in ("question", "hedge", "abstention"):
            continue
        rest = _ATTRIBUTION.sub(" ", CITATION_GROUP.sub(" ", sentence))
        if len(_WORD.findall(_BARE_MENTION.sub(" ", rest))) < 3:
            continue  # "Looking at S2." names a source but says nothing about it
        labels = tuple(mentioned_labels(sentence))
        for part_start, part_end in clause_spans(trace, start, end):
            part = trace[part_start:part_end]
            if classify(part) in ("question", "hedge", "abstention"):
                continue
            out.append(Claim(part, "trace", tuple(mentioned_labels(part)) or labels, part_start, part_end))
    return out
