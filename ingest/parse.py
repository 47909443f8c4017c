"""Turn one file into text blocks with page numbers and section paths, using unstructured offline.

Only the ``fast`` PDF strategy is used: ``hi_res`` downloads a layout model at run time. Legacy
.doc/.ppt need LibreOffice and image OCR needs tesseract (system packages, see README).

The parser is chosen by the file's bytes (:mod:`ingest.content`), and ZIP-based documents are checked
against the archive limits (:mod:`ingest.archive_limits`) before any parser reads them. Ingestion
calls :func:`parse_file` in a child process under memory and time limits (:mod:`ingest.parse_worker`).

The elements become one document in :func:`assemble`: page furniture dropped, text normalised
(ligatures, broken words, whitespace), false headings demoted, then offsets computed, so blocks and
chunks point into the stored text. The title comes from the file where it holds one (:mod:`ingest.titles`).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from rag.offline import point_unstructured_at_packaged_spacy_model
from ingest.archive_limits import ArchiveLimits, ArchiveRefused, check_archive
from ingest.content import PDF, TEXT_SUFFIXES, ContentMismatch, ParserChoice, choose_parser
from ingest.furniture import find_furniture, strip_stamps
from ingest.headings import accept_headings, heading_depth
from ingest.normalise import Vocabulary, collapse_whitespace, dehyphenate, prepare_text, verbatim_text
from ingest.tables import table_text
from ingest.titles import (TitleChoice, choose_title, expects_title, first_page_text, same_title,
                           title_in_file)
from ingest.ocr import (OcrFailed, OcrResult, OcrUnavailable, complete_pdf, image_elements,
                        missing_tesseract, tesseract_available)

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
    # A table (ingest.tables): ``text`` is one row a line, and the chunker splits it by rows.
    is_table: bool = False
    # The table's leading line(s) naming its columns (``text`` starts with them), repeated for every
    # chunk of the table after the first; None for prose and for tables whose structure is unknown.
    table_header: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    text: str
    title: str
    blocks: list[Block]
    # What a reader of the ingest report should know about this parse ("OCR used: …", "no text layer
    # on page 3 …"); it travels with the document from the parse child (pickled) into the report.
    warnings: tuple[str, ...] = ()
    page_count: int | None = None  # pages of a PDF or image; for other formats the highest page seen


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
    if choice.is_plain_text or (path.suffix.lower() in PLAIN_TEXT_SUFFIXES and choice.is_text):
        options["encoding"] = detect_text_encoding(path)
    ocr = OcrResult([])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if choice.is_image:
                ocr = image_elements(path, choice.detected)
                elements = ocr.elements
            else:
                elements = partition(filename=str(path), **options)
                if choice.detected == PDF:  # pages without a text layer: OCR'd, or named in the warnings
                    pages_with_text = {page for page, text in _element_pages(elements) if text}
                    ocr = complete_pdf(path, elements, pages_with_text)
                    elements = ocr.elements
    except MemoryError:
        raise  # the parse worker reports it with the limit that was hit
    except (OcrUnavailable, OcrFailed) as error:
        raise ParseError(str(error)) from error
    except Exception as error:  # unstructured raises anything from ValueError to library errors
        raise ParseError(explain_parse_error(path, error)) from error
    in_file = title_in_file(path, choice.detected, first_page_text(elements))
    document = assemble(elements, fallback_title=path.stem, file_title=in_file, warn_untitled=expects_title(path))
    if not document.text.strip():
        raise ParseError(explain_empty(path, choice))
    pages = ocr.page_count or max((block.page for block in document.blocks if block.page), default=None)
    return replace(document, warnings=(*document.warnings, *ocr.warnings), page_count=pages)


def _element_pages(elements: list):
    """(page, has text) of each element that ``assemble`` keeps."""
    for element in elements:
        if getattr(element, "category", "") not in SKIPPED_CATEGORIES:
            yield getattr(element.metadata, "page_number", None), bool((getattr(element, "text", "") or "").strip())


# unstructured guesses the encoding of plain text from a few bytes and gets short Latin-1 text
# wrong (windows-1250: "Ébène" → "Ébčne"); these are decoded by our rules instead.
PLAIN_TEXT_SUFFIXES = TEXT_SUFFIXES  # ingest.content owns the list


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
        if tesseract_available():
            return f"the PDF has {pages} page(s) but no text layer, and OCR found no text on them (blank, or pictures only)"
        return (
            f"the PDF has {pages} page(s) but no text layer (a scan or images only); "
            + missing_tesseract("reading it")
        )
    if choice.is_image:
        return f"OCR found no text in the {choice.detected}"
    if path.stat().st_size == 0:
        return "the file is empty"
    return "no text could be extracted: the file holds no text, or only images"


PDF_FILETYPE = "application/pdf"  # unstructured's metadata.filetype: its text has line breaks as spaces
VERBATIM_CATEGORIES = {"CodeSnippet"}  # kept as written: see ingest.normalise


def assemble(
    elements: list, fallback_title: str, file_title: TitleChoice | None = None, warn_untitled: bool = False
) -> ParsedDocument:
    """Concatenate the elements' normalised texts; remember where each sits, its page and its section path.

    In order: unstructured's furniture categories and empty elements are skipped; running headers,
    footers, page numbers and margin stamps go (:mod:`ingest.furniture`); each text is normalised
    (:mod:`ingest.normalise`) with a vocabulary of the whole document; the "Title" elements that look
    like headings open sections (:mod:`ingest.headings`), the others are text; the title is chosen
    (:mod:`ingest.titles`: ``file_title`` when given, else the first heading, else
    ``fallback_title``, with a warning when ``warn_untitled``). Offsets are computed last, so every
    block's ``start``/``end`` point into the stored, normalised text:
    ``text[block.start:block.end] == block.text``.
    """
    kept: list[tuple[object, str, str, object]] = []  # (element, category, prepared text, table)
    for element in elements:
        category = getattr(element, "category", "")
        if category in SKIPPED_CATEGORIES:
            continue
        table = table_text(element) if category == "Table" else None
        text = table.text if table is not None else (getattr(element, "text", "") or "")
        text = verbatim_text(text) if category in VERBATIM_CATEGORIES else strip_stamps(prepare_text(text))
        if text.strip():
            kept.append((element, category, text, table))
    furniture = find_furniture([(_page(element), text, table is not None) for element, _c, text, table in kept])
    kept = [item for index, item in enumerate(kept) if index not in furniture]
    vocabulary = Vocabulary(text for _e, _c, text, _t in kept)
    texts = [text if category in VERBATIM_CATEGORIES else _normalised(text, vocabulary, element, table is not None)
             for element, category, text, table in kept]
    headings = accept_headings([(category, text) for (_e, category, _t, _table), text in zip(kept, texts)],
                               [_depth(element) is None for element, *_ in kept])

    parts: list[str] = []
    blocks: list[Block] = []
    sections: list[tuple[int, str]] = []  # (depth, heading) stack
    first_page_headings: list[str] = []
    offset = 0
    for (element, _category, _prepared, table), text, is_heading in zip(kept, texts, headings):
        if not text:
            continue
        page = _page(element)
        if is_heading:
            depth = heading_depth(text, _depth(element))
            while sections and sections[-1][0] >= depth:
                sections.pop()
            sections.append((depth, text))
            if page in (None, 1):
                first_page_headings.append(text)
        if parts:
            offset += len(BLOCK_SEPARATOR)
        parts.append(text)
        header = _table_header(table, text, vocabulary, element) if table is not None else None
        blocks.append(Block(text, offset, offset + len(text), page, tuple(s for _, s in sections),
                            is_table=table is not None, table_header=header))
        offset += len(text)
    title = choose_title(file_title, first_page_headings, fallback_title, warn_untitled)
    # The title's own heading would repeat the title in every header under it ("T / T").
    blocks = [replace(block, section_path=block.section_path[1:])
              if block.section_path and same_title(block.section_path[0], title.title) else block
              for block in blocks]
    return ParsedDocument(BLOCK_SEPARATOR.join(parts), title.title, blocks,
                          warnings=(title.warning,) if title.warning else ())


def _page(element) -> int | None:
    return getattr(getattr(element, "metadata", None), "page_number", None)


def _depth(element) -> int | None:
    """The heading level the parser read from the file (DOCX styles, HTML, Markdown); None where it
    guessed the element's category from its look (PDF, plain text)."""
    return getattr(getattr(element, "metadata", None), "category_depth", None)


def _normalised(prepared: str, vocabulary: Vocabulary, element, table: bool) -> str:
    line_joined = getattr(getattr(element, "metadata", None), "filetype", None) == PDF_FILETYPE
    return collapse_whitespace(dehyphenate(prepared, vocabulary, line_joined, table))


def _table_header(table, text: str, vocabulary: Vocabulary, element) -> str | None:
    """The table's header normalised like its text, so that it stays the text's first line(s)."""
    if not table.header:
        return None
    header = _normalised(prepare_text(table.header), vocabulary, element, table=True)
    if text.startswith(header):
        return header
    return "\n".join(text.split("\n")[: table.header.count("\n") + 1])


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
