"""Turn one file into text blocks with page numbers and section paths, using unstructured offline.

Only the ``fast`` PDF strategy is used: ``hi_res`` downloads a layout model at run time. Legacy
.doc/.ppt need LibreOffice and image OCR needs tesseract (system packages, see README).

The parser is chosen by the file's bytes (:mod:`ingest.content`), and ZIP-based documents are checked
against the archive limits (:mod:`ingest.archive_limits`) before any parser reads them. Ingestion
calls :func:`parse_file` in a child process under memory and time limits (:mod:`ingest.parse_worker`).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from rag.offline import point_unstructured_at_packaged_spacy_model
from ingest.archive_limits import ArchiveLimits, ArchiveRefused, check_archive
from ingest.content import PDF, ContentMismatch, ParserChoice, choose_parser

log = logging.getLogger(__name__)

# Repeated page furniture and non-text elements add noise to every chunk they touch.
SKIPPED_CATEGORIES = {"Header", "Footer", "PageBreak", "Image", "PageNumber"}


class ParseError(Exception):
    """The file cannot be ingested; the message says why in words a person understands."""


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    start: int  # offsets into ParsedDocument.text
    end: int
    page: int | None
    section_path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    text: str
    title: str
    blocks: list[Block]


BLOCK_SEPARATOR = "\n\n"
_prepared = False


def prepare_parser() -> None:
    """Point unstructured at the packaged spaCy model and import it: seconds, once per process."""
    global _prepared
    if not _prepared:
        point_unstructured_at_packaged_spacy_model()
        import unstructured.partition.auto  # noqa: F401

        _prepared = True


def parse_file(path: Path, archive_limits: ArchiveLimits | None = None) -> ParsedDocument:
    """Parse in this process. ``archive_limits``: check a ZIP-based file against them first."""
    try:
        choice = choose_parser(path, PLAIN_TEXT_SUFFIXES)
    except ContentMismatch as error:
        raise ParseError(str(error)) from error
    except OSError as error:
        raise ParseError(f"cannot read the file: {error.strerror or error}") from error
    if choice.is_zip and archive_limits is not None:
        try:
            check_archive(path, archive_limits)
        except ArchiveRefused as error:
            raise ParseError(str(error)) from error
    prepare_parser()
    from unstructured.partition.auto import partition

    options: dict = {"strategy": "fast", "languages": ["eng"]}
    if choice.content_type is not None:
        options["content_type"] = choice.content_type
    elif path.suffix.lower() in PLAIN_TEXT_SUFFIXES and choice.is_text:
        options["encoding"] = detect_text_encoding(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elements = partition(filename=str(path), **options)
    except MemoryError:
        raise  # the parse worker reports it with the limit that was hit
    except Exception as error:  # unstructured raises anything from ValueError to library errors
        raise ParseError(explain_parse_error(path, error)) from error
    document = assemble(elements, fallback_title=path.stem)
    if not document.text.strip():
        raise ParseError(explain_empty(path, choice))
    return document


# unstructured guesses the encoding of plain text from a few bytes and gets short Latin-1 text
# wrong (windows-1250: "Ébène" → "Ébčne"); these are decoded by our rules instead.
PLAIN_TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".csv", ".tsv", ".rst", ".org", ".log"}


def detect_text_encoding(path: Path) -> str:
    """BOM first, then strict UTF-8, then Windows-1252 (a superset of printable Latin-1)."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"  # decodes any byte sequence


def explain_empty(path: Path, choice: ParserChoice) -> str:
    """unstructured returns no elements, silently, for every kind of broken PDF: ask pypdf why."""
    if choice.detected == PDF or (path.suffix.lower() == ".pdf" and choice.content_type is None):
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(str(path))
            if reader.is_encrypted:
                return "the PDF is password-protected; save an unprotected copy and ingest that"
            pages = len(reader.pages)
        except PdfReadError as error:
            return f"the PDF is damaged or not a PDF at all ({error}); re-export or re-download it"
        except Exception as error:  # pypdf raises plain ValueError/KeyError on some damage
            return f"the PDF is damaged ({type(error).__name__}: {error}); re-export or re-download it"
        return (
            f"the PDF has {pages} page(s) but no text layer (a scan or images only); OCR it first, "
            "or install tesseract-ocr and poppler-utils"
        )
    if path.stat().st_size == 0:
        return "the file is empty"
    return "no text could be extracted: the file holds no text, or only images"


def assemble(elements: list, fallback_title: str) -> ParsedDocument:
    """Concatenate element texts; remember where each sits, its page and its section path."""
    parts: list[str] = []
    blocks: list[Block] = []
    sections: list[tuple[int, str]] = []  # (depth, title) stack
    title = ""
    offset = 0
    for element in elements:
        category = getattr(element, "category", "")
        text = (getattr(element, "text", "") or "").strip()
        if category in SKIPPED_CATEGORIES or not text:
            continue
        metadata = getattr(element, "metadata", None)
        if category == "Title":
            depth = getattr(metadata, "category_depth", None) or 0
            while sections and sections[-1][0] >= depth:
                sections.pop()
            sections.append((depth, text))
            title = title or text
        if parts:
            offset += len(BLOCK_SEPARATOR)
        parts.append(text)
        page = getattr(metadata, "page_number", None)
        blocks.append(Block(text, offset, offset + len(text), page, tuple(s for _, s in sections)))
        offset += len(text)
    return ParsedDocument(BLOCK_SEPARATOR.join(parts), title or fallback_title, blocks)


def parse_record(title: str, text: str) -> ParsedDocument:
    """A JSONL corpus record: already text, one block, no pages."""
    body = text.strip()
    if not body:
        raise ParseError('the record\'s "text" is empty')
    return ParsedDocument(body, title, [Block(body, 0, len(body), None, ())])


def explain_parse_error(path: Path, error: Exception) -> str:
    message = str(error) or type(error).__name__
    lowered = f"{type(error).__name__} {message}".lower()
    if "password" in lowered or "encrypt" in lowered:
        return "the file is password-protected or encrypted; save an unprotected copy and ingest that"
    if "not supported" in lowered or "unsupported" in lowered or "filetype.unk" in lowered:
        return (
            f"unsupported file type ({path.suffix or 'no extension'}): verirag reads PDF, DOCX, PPTX, "
            "XLSX, HTML, Markdown, TXT, CSV, EML, EPUB, RTF, ODT, RST and ORG"
        )
    if "libreoffice" in lowered or "soffice" in lowered:
        return f"{path.suffix} files need LibreOffice (Debian: libreoffice-writer-nogui); install it or convert the file"
    if "tesseract" in lowered:
        return "this file needs OCR; install tesseract-ocr (Debian) or convert it to text first"
    if any(word in lowered for word in ("eof", "corrupt", "damaged", "invalid", "malformed", "syntax", "badzip", "not a zip")):
        return f"the file is damaged or not a valid {path.suffix.lstrip('.').upper() or 'document'} ({message[:160]})"
    return f"could not parse the file ({type(error).__name__}: {message[:200]})"
