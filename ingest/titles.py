"""The document's title, which heads every chunk's embedding text and every citation.

Where it comes from, first usable wins (:func:`choose_title`):

1. **The file's own title** (:func:`title_in_file`): a PDF's ``/Title`` metadata (pypdf) when half
   its words are on page 1 (templates leave theirs behind), else the largest text on page 1
   (pdfminer's layout analysis of that page only: upright characters, at least
   :data:`MIN_FONT_RATIO` times the page's median size, wrapped lines joined, not a section heading
   such as ``1 Introduction``); an OOXML file's (DOCX, PPTX, XLSX) core-properties title, an ODT's
   ``meta.xml`` title, an EPUB's OPF title; an HTML page's ``<title>``.
2. **The first plausible heading** on the first page: a "Title" element that
   :mod:`ingest.headings` accepts, that is a usable title and not a numbered or generic section
   heading (``1 Introduction``, ``Abstract``).
3. **The file name's stem**; for formats that carry titles (PDF, office documents, HTML, EPUB, RTF)
   the document's warnings then say so (:data:`FILE_NAME_WARNING`).

A title is usable (:func:`usable_title`) when it has three letters in a row, is not a producer's
placeholder (``Microsoft Word - report.docx``, ``Untitled``, ``Slide 1``), not a file name, path
or slug (``Unstructured-test-doc``), holds no URL, e-mail address, arXiv identifier or DOI, and
does not hold more single-character tokens than words (the rotated arXiv stamp reads
``y a M 4 2``). The largest text of a PDF page must also be two words or more (one large word is
a logo or a label). Reading a title never fails a parse: a file whose metadata
cannot be read simply has none.
"""

from __future__ import annotations

import html
import re
import statistics
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ingest.content import HTML, PDF, ZIP
from ingest.headings import conventional, numbering
from ingest.normalise import nfkc

FROM_METADATA = "document metadata"
FROM_FONT = "largest text on the first page"
FROM_HEADING = "first heading"
FROM_FILE_NAME = "file name"
FILE_NAME_WARNING = "title taken from the file name: no usable title in the document"

MAX_TITLE_CHARS = 300
MIN_FONT_RATIO = 1.15  # the title's size over the median character size of page 1
FONT_SIZE_TOLERANCE = 0.5  # points: lines this close to the largest size are part of the title
MAX_METADATA_BYTES = 1 << 20
HTML_HEAD_BYTES = 256 * 1024
# Suffixes whose formats hold a title of their own: only these warn when the file name is used.
TITLED_SUFFIXES = frozenset({".pdf", ".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt", ".html", ".htm", ".epub"})

_PLACEHOLDER = re.compile(
    r"^(?:microsoft\s+(?:word|powerpoint|excel)\b.*|untitled(?:[\s-]*\d+)?|untitled document|new document"
    r"|document\s*\d*|title|no title|slide\s*\d*|powerpoint presentation|presentation\s*\d*|blank|template"
    r"|default|none|null|unknown|doc\d*|page\s*\d*)$",
    re.IGNORECASE,
)
_FILE_NAME = re.compile(
    r"(?:^|[\\/])[^\\/]*\.(?:pdf|docx?|dotx?|pptx?|xlsx?|odt|rtf|txt|tex|dvi|ps|eps|html?|indd|qxd|pages|key)$",
    re.IGNORECASE,
)
_PATH = re.compile(r"^(?:[a-z]:\\|/|~/|file:)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^(?:arxiv:|doi:|10\.\d{4,}/|https?://)", re.IGNORECASE)
_DC_TITLE = re.compile(rb"<dc:title[^>]*>(.*?)</dc:title>", re.DOTALL)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_WORDS = re.compile(r"[^\W\d_]{2,}")
_THREE_LETTERS = re.compile(r"[^\W\d_]{3}")
_ADDRESS = re.compile(r"https?://|www\.|\S@\S")
# one token of words joined by "_" or by two or more "-": a file or template name ("Unstructured-test-doc")
_SLUG = re.compile(r"^[\w.]+(?:_[\w.-]+|(?:-[\w.]+){2,})$")


@dataclass(frozen=True, slots=True)
class TitleChoice:
    title: str
    source: str  # FROM_METADATA, FROM_FONT, FROM_HEADING or FROM_FILE_NAME
    warning: str | None = None  # set when the title is a guess a reader of the report should check

    @property
    def suspicious(self) -> bool:
        return self.warning is not None


def usable_title(text: str | None, stem: str | None = None) -> str | None:
    """``text`` tidied (whitespace collapsed, NFKC, quotes stripped) when it is a usable title, else None."""
    if not text:
        return None
    title = " ".join(nfkc(text).split()).strip(" \"'`“”‘’")
    if not title or len(title) > MAX_TITLE_CHARS or not _THREE_LETTERS.search(title):
        return None
    if _PLACEHOLDER.match(title) or _FILE_NAME.search(title) or _PATH.match(title) or _IDENTIFIER.match(title):
        return None
    if _ADDRESS.search(title) or _SLUG.match(title):
        return None
    if stem and _squeeze(title) == _squeeze(stem):
        return None
    tokens = title.split()
    single = sum(1 for token in tokens if len(token) == 1)
    if single > len(tokens) - single:
        return None
    return title


def same_title(heading: str, title: str) -> bool:
    """``heading`` is ``title`` but for case, spacing and punctuation."""
    return _squeeze(heading) == _squeeze(title)


def _squeeze(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def title_in_file(path: Path, detected: str, first_page_text: str | None = None) -> TitleChoice | None:
    """The title the file itself holds (step 1), or None. ``first_page_text``: the parser's text of
    page 1; a PDF's metadata title none of whose words are there (a template's "Instructions for
    Authors") gives way to the largest text on the page."""
    stem = path.stem
    try:
        if detected == PDF:
            metadata = usable_title(pdf_metadata_title(path), stem)
            if metadata and (first_page_text is None or _appears_in(metadata, first_page_text)):
                return TitleChoice(metadata, FROM_METADATA)
            title = usable_title(pdf_largest_text(path), stem)
            # one large word is a logo or a label more often than a title
            if title and len(_WORDS.findall(title)) >= 2 and not _section_heading(title):
                return TitleChoice(title, FROM_FONT)
            return TitleChoice(metadata, FROM_METADATA) if metadata else None
        if detected == ZIP:
            title = usable_title(packaged_title(path), stem)
        elif detected == HTML:
            title = usable_title(html_title(path), stem)
        else:
            return None
    except Exception:  # noqa: BLE001  (a damaged file's parse reports the damage; the title is optional)
        return None
    return TitleChoice(title, FROM_METADATA) if title else None


def first_page_text(elements: Iterable, limit: int = 20_000) -> str:
    """The text of the elements on page 1 (or without a page), up to ``limit`` characters."""
    parts, size = [], 0
    for element in elements:
        if getattr(getattr(element, "metadata", None), "page_number", None) not in (None, 1):
            continue
        text = getattr(element, "text", "") or ""
        parts.append(text)
        size += len(text)
        if size >= limit:
            break
    return " ".join(parts)


def _appears_in(title: str, text: str) -> bool:
    """At least half of the title's words of three letters or more are words of ``text``."""
    words = {word.lower() for word in re.findall(r"[^\W\d_]{3,}", title)}
    if not words:
        return True
    present = {word.lower() for word in re.findall(r"[^\W\d_]{3,}", nfkc(text))}
    return 2 * len(words & present) >= len(words)


def choose_title(in_file: TitleChoice | None, headings: Iterable[str], fallback: str, warn: bool) -> TitleChoice:
    """Steps 1–3: ``headings`` are the accepted headings of page 1, in order; ``warn``: say so when
    the title is ``fallback`` (the file name's stem)."""
    if in_file is not None:
        return in_file
    for heading in headings:
        title = usable_title(heading, fallback)
        if title and not _section_heading(title):
            return TitleChoice(title, FROM_HEADING)
    return TitleChoice(fallback, FROM_FILE_NAME, FILE_NAME_WARNING if warn else None)


def _section_heading(text: str) -> bool:
    """A numbered or generic section heading ("1 Introduction", "Abstract"): a document's part, not its name."""
    return numbering(text) is not None or conventional(text)


def expects_title(path: Path) -> bool:
    """Whether a missing title is worth a warning: formats that carry one (not text, CSV, sheets, images)."""
    return path.suffix.lower() in TITLED_SUFFIXES


# -- PDF -----------------------------------------------------------------------------------------
def pdf_metadata_title(path: Path) -> str | None:
    from pypdf import PdfReader

    metadata = PdfReader(str(path)).metadata
    title = metadata.title if metadata is not None else None
    return str(title) if title else None


def pdf_largest_text(path: Path) -> str | None:
    """The lines of page 1 set in its largest upright type, top to bottom, when that type is larger
    than the page's usual text; None for a page of one size or without text."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTTextLine

    lines: list[tuple[float, float, float, str]] = []  # (size, top, bottom, text)
    sizes: list[float] = []
    for page in extract_pages(str(path), page_numbers=[0], maxpages=1, laparams=LAParams()):
        for line in _walk(page, LTTextLine):
            chars = [char for char in line if isinstance(char, LTChar) and char.get_text().strip()]
            upright = [char for char in chars if char.upright]
            sizes.extend(char.size for char in upright)
            text = " ".join(line.get_text().split())
            # Rotated margin text (the arXiv stamp) is set large: only upright, word-like lines count.
            if not upright or len(upright) < 0.8 * len(chars) or usable_title(text) is None:
                continue
            lines.append((statistics.median(char.size for char in upright), line.y1, line.y0, text))
    if not lines or not sizes:
        return None
    largest = max(size for size, *_ in lines)
    if largest < MIN_FONT_RATIO * statistics.median(sizes):
        return None
    chosen = sorted((line for line in lines if line[0] >= largest - FONT_SIZE_TOLERANCE), key=lambda line: -line[1])
    parts = [chosen[0][3]]
    bottom = chosen[0][2]
    for size, top, line_bottom, text in chosen[1:]:
        if bottom - top > 1.5 * size:  # a gap: the same size further down is not the title's next line
            break
        parts.append(text)
        bottom = line_bottom
    joined = ""
    for part in parts:
        joined = joined + part if joined.endswith("-") else f"{joined} {part}".strip()
    return joined


def _walk(item, kind):
    if isinstance(item, kind):
        yield item
        return
    try:
        children = list(item)
    except TypeError:
        return
    for child in children:
        yield from _walk(child, kind)


# -- packaged formats and HTML -------------------------------------------------------------------
def packaged_title(path: Path) -> str | None:
    """The ``dc:title`` of an OOXML (docProps/core.xml), ODF (meta.xml) or EPUB (*.opf) file."""
    with zipfile.ZipFile(path) as archive:
        names = [name for name in archive.namelist() if name in ("docProps/core.xml", "meta.xml") or name.endswith(".opf")]
        for name in names:
            if archive.getinfo(name).file_size > MAX_METADATA_BYTES:
                continue
            match = _DC_TITLE.search(archive.read(name))
            if match:
                return html.unescape(_TAG.sub("", match.group(1).decode("utf-8", "replace")))
    return None


def html_title(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(HTML_HEAD_BYTES).decode("utf-8", "replace")
    match = _HTML_TITLE.search(head)
    return html.unescape(_TAG.sub("", match.group(1))) if match else None
