"""Which of the parser's "Title" elements are section headings, and how deep each sits.

unstructured files any short line as a "Title": in a PDF that includes table cells, author e-mail
addresses, model names and pieces of formulas, and every one of them would cut a section (and so a
chunk) and end up in the header of the chunks after it. A "Title" is accepted as a heading only
when :func:`heading_rejection` finds nothing against it; a rejected one becomes an ordinary text
block of the section it sits in.

Always rejected: shorter than :data:`MIN_CHARS` or longer than :data:`MAX_CHARS`; an e-mail address,
a URL or a repository handle (``EleutherAI/gpt-neox-20b``); letters under :data:`MIN_LETTER_SHARE`
of its characters (``86.7``, ``±0.3``); spaced-out single characters; a formula (math symbols or
Greek letters with no plain word: ``…logpθ(x)``); a caption (``Table 2: …``, ``Figure 3.``).

Also rejected: more than :data:`MAX_WORDS` words; ending in ``,`` or ``;``; a sentence (ending in
``.`` after :data:`MAX_WORDS_BEFORE_PERIOD` words); starting in lower case. And, unless numbered
(``2.3 Optimizer``, ``A Appendix``, ``IV. RESULTS``, ``Item 1A. Risk Factors``), a "Title" inside a
table: in a run of at least :data:`TABLE_RUN` consecutive short elements of which half hold digits
(how the ``fast`` PDF parser gives the cells of a table it does not recognise). All-caps lines get no
favour: in papers they are mostly table cells and model names (``BERTLARGE``).

In a document whose guessed headings include :data:`NUMBERED_SECTIONS` numbered ones, an
unnumbered guess is a heading only when it is conventional (:data:`CONVENTIONAL_HEADINGS`:
"Abstract", "References" …): in a paper the others are table headers, affiliations and figure text.
Headings the parser read from the file's structure (DOCX styles, HTML and Markdown levels) are never
held to this, nor to the table rule.

Depth: the parser's ``category_depth`` when it has one (DOCX and HTML heading levels); otherwise
the numbering's (``2`` → 0, ``2.3`` → 1, ``A.1.2`` → 2); otherwise 0. With no accepted heading in a
document every block has the empty section path, and the chunker splits the whole text by its token
budget alone.
"""

from __future__ import annotations

import re
from typing import Sequence

MIN_CHARS = 2
MAX_CHARS = 120
MAX_WORDS = 12
MAX_WORDS_BEFORE_PERIOD = 6
MIN_LETTER_SHARE = 0.5
TABLE_RUN = 4
TABLE_CELL_CHARS = 40
NUMBERED_SECTIONS = 3  # numbered headings that make a document's sections numbered
CONVENTIONAL_HEADINGS = frozenset({
    "abstract", "introduction", "background", "related work", "conclusion", "conclusions", "discussion",
    "results", "methods", "limitations", "acknowledgements", "acknowledgments", "acknowledgement",
    "acknowledgment", "references", "bibliography", "appendix", "appendices", "supplementary material",
    "contents", "table of contents", "preface", "foreword", "summary", "executive summary", "overview",
    "index", "glossary", "ethics statement", "broader impact", "author contributions", "notes",
})  # fmt: skip

_NUMBERING = re.compile(
    r"^(?:(?i:chapter|section|part|appendix|annex|item)\s+)?"
    r"(?:(?P<number>\d{1,3}[A-Z]?(?:\.\d{1,3})*)\.?\)?(?:\s*[-–—:]\s*|\s+)"  # 2.3 / 1A. / 1 – / 3:
    r"|(?P<letter>[A-Z](?:\.\d{1,3})*)\.?\)?\s+"  # A / A.1 / B)
    r"|(?P<roman>X{0,3}(?:IX|IV|VI{0,3}|I{1,3})|X{1,3})\.\s+)"  # IV.
    r"(?=[^\W\d_])"
)
_EMAIL = re.compile(r"\S@\S|\{[^}]*\}@")
_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|org|net|edu|io|ai|gov)(?:/|\b)", re.IGNORECASE)
# owner/name where the owner has a letter and the name looks like a repository or model id (a hyphen
# or a digit in it): "EleutherAI/gpt-neox-20b", not "TCP/IP" or "and/or"
_HANDLE = re.compile(r"(?<![\w/])(?=[\w.-]*[^\W\d_])[\w.-]{2,}/(?=[\w.-]*[-\d])[\w.-]{2,}(?![\w/])")
# Relations and operators make a formula of a line with fewer than two plain words; Greek letters
# and TeX-like marks only of a line with none ("…logpθ(x)", but not "The β-VAE Objective").
_MATH_OPERATOR = re.compile(r"[=<>≤≥≈≠±∓×÷∑∏∫∮√∞∂∇∈∉⊂⊃⊆⊇∪∩∀∃∧∨¬→←↔⇒⇔]")
_MATH_MARK = re.compile(r"[\u0370-\u03ff^_\\|~]")
_PLAIN_WORD = re.compile(r"(?<!\S)[A-Za-z]{3,}[,:;.]?(?!\S)")
_CAPTION = re.compile(r"^(?:table|tab\.|figure|fig\.|algorithm|listing|chart|exhibit)\s*[\dIVX]+[a-z]?\s*[:.|]", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")


def numbering(text: str) -> str | None:
    """The section number a heading starts with (``2.3``, ``A``, ``IV``), or None."""
    text = text.strip()
    match = _NUMBERING.match(text)
    if match is None:
        return None
    if match.group("roman"):
        return match.group("roman")
    if match.group("letter"):
        # A lone capital letter numbers a heading only before a capitalised word ("A Appendix").
        letter = match.group("letter")
        if len(letter) == 1 and not text[match.end():][:1].isupper():
            return None
        return letter
    return match.group("number")


def heading_rejection(text: str, in_table: bool = False) -> str | None:
    """Why the "Title" ``text`` is not a section heading, or None when it looks like one."""
    text = text.strip()
    if len(text) < MIN_CHARS:
        return "too short"
    if len(text) > MAX_CHARS:
        return f"longer than {MAX_CHARS} characters"
    if _EMAIL.search(text):
        return "an e-mail address"
    if _URL.search(text):
        return "a URL"
    if _HANDLE.search(text):
        return "a repository or model handle"
    words = text.split()
    if len(words) >= 2 and all(len(word) == 1 for word in words):
        return "spaced-out single characters"
    visible = [char for char in text if not char.isspace()]
    if len(_LETTER.findall(text)) < MIN_LETTER_SHARE * len(visible):
        return "mostly digits or symbols"
    plain_words = len(_PLAIN_WORD.findall(text))
    if (_MATH_OPERATOR.search(text) and plain_words < 2) or (_MATH_MARK.search(text) and plain_words == 0):
        return "a formula"
    if _CAPTION.match(text):
        return "a caption"
    if len(words) > MAX_WORDS:
        return f"more than {MAX_WORDS} words"
    if text.endswith((",", ";")):
        return "ends like part of a sentence"
    if text.endswith(".") and len(words) > MAX_WORDS_BEFORE_PERIOD:
        return "a sentence"
    first_letter = _LETTER.search(text)
    if first_letter is not None and first_letter.group().islower() and text[0] == first_letter.group():
        return "starts in lower case"
    if in_table and numbering(text) is None:
        return "inside a table"
    return None


def table_runs(texts: Sequence[str]) -> set[int]:
    """Indexes of the elements in runs that look like the cells of a table (see the module docstring)."""
    inside: set[int] = set()
    run: list[int] = []
    for index, text in enumerate([*texts, None]):
        if text is not None and len(text) <= TABLE_CELL_CHARS and not text.rstrip().endswith("."):
            run.append(index)
            continue
        if len(run) >= TABLE_RUN and 2 * sum(any(c.isdigit() for c in texts[i]) for i in run) >= len(run):
            inside.update(run)
        run = []
    return inside


def accept_headings(elements: Sequence[tuple[str, str]], guessed: Sequence[bool] | None = None) -> list[bool]:
    """For each (category, text) in document order: is it a section heading? ``guessed``: for each
    element, whether the parser guessed its category from the text's look (PDF and plain text: no
    ``category_depth``) rather than read it from the file's structure (default: all guessed)."""
    guessed = [True] * len(elements) if guessed is None else list(guessed)
    in_table = table_runs([text for _category, text in elements])
    accepted = [
        category == "Title" and heading_rejection(text, index in in_table and guessed[index]) is None
        for index, (category, text) in enumerate(elements)
    ]
    numbered = {text for (_c, text), ok, guess in zip(elements, accepted, guessed) if ok and guess and _numbered(text)}
    if len(numbered) >= NUMBERED_SECTIONS:
        # A document whose sections are numbered: an unnumbered guess is a heading only when it is
        # one of the conventional unnumbered sections; the rest are table headers, affiliations,
        # figure text and questions quoted in the text.
        accepted = [
            ok and (not guess or _numbered(text) or conventional(text))
            for (_c, text), ok, guess in zip(elements, accepted, guessed)
        ]
    return accepted


def _numbered(text: str) -> bool:
    return numbering(text) is not None


def conventional(text: str) -> bool:
    """One of the sections documents leave unnumbered ("Abstract", "References", "Appendix")."""
    return " ".join(text.lower().rstrip(":. ").split()) in CONVENTIONAL_HEADINGS


def heading_depth(text: str, parser_depth: int | None) -> int:
    """How deep the heading sits: the parser's depth when it has one, else its numbering's, else 0."""
    if parser_depth:
        return parser_depth
    number = numbering(text)
    if number is None or not any(char.isdigit() for char in number):
        return 0
    return number.count(".")
