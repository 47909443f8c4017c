"""What a file is, judged from its bytes: a file's name only claims a format.

The rules (one place: parsing and the API's upload check, :mod:`api.jobs.sniff`, both apply them):

* **Bytes that prove a format win over the name.** A PDF or RTF header is parsed as PDF or RTF
  whatever the file is called, so a PDF saved as ``.txt`` is read as a PDF, not stored as PDF
  syntax; ZIP and OLE2 containers go to unstructured, which recognises them by their bytes.
* **Images** (PNG, JPEG, TIFF, GIF, BMP, WebP, recognised by their bytes) are read by OCR
  (:mod:`ingest.ocr`). A file named as an image whose bytes are not one is refused: it would
  otherwise be stored as mojibake.
* **A name that says text** (``.txt``, ``.md``, ``.csv`` …) but bytes that are binary data of no
  known format: refused with a reason.
* **Any other name** (source code, ``.json``, ``.yaml``, no extension, an unknown one) is judged by
  content alone: text (no NUL bytes, decodes as UTF-8 or Windows-1252, few control characters) is
  ingested as plain text; anything else is refused as a binary file of no supported format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 64 * 1024
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
# PDF readers accept the header anywhere in the first KiB; so does the check.
PDF_HEADER_WINDOW = 1024

# What each recognisable container is, with the Content-Type that makes unstructured use its parser.
PDF = "PDF"
ZIP = "ZIP archive"
OLE2 = "legacy or encrypted Office file"
RTF = "RTF"
HTML = "HTML"
TEXT = "text"
PLAIN_TEXT_TYPE = "text/plain"
CONTENT_TYPES = {PDF: "application/pdf", RTF: "text/rtf"}

# Names that promise plain text: binary bytes under them are refused, text is decoded by our rules.
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".csv", ".tsv", ".rst", ".org", ".log"})
# Names that unstructured parses by their own format. Every other name is judged by content.
DOCUMENT_SUFFIXES = frozenset({
    ".pdf", ".docx", ".doc", ".pptx", ".ppt", ".xlsx", ".odt", ".epub", ".rtf",
    ".html", ".htm", ".xml", ".eml",
})  # fmt: skip
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".gif", ".bmp", ".webp"})
SUPPORTED_FORMATS = (
    "PDF, DOCX, PPTX, XLSX, ODT, EPUB, RTF, HTML, XML, EML, Markdown, CSV, RST, Org, images (by OCR) "
    "and any plain text file"
)


def read_head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES)


def container(head: bytes) -> str | None:
    """The document format the bytes prove (PDF, ZIP archive, OLE2, RTF), or None."""
    if b"%PDF-" in head[:PDF_HEADER_WINDOW]:
        return PDF
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return ZIP
    if head.startswith(OLE2_MAGIC):
        return OLE2
    if head.lstrip().startswith(b"{\\rtf"):
        return RTF
    return None


def image_format(head: bytes) -> str | None:
    """The image format the bytes prove ("PNG image" …), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG image"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF image"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP image"
    # "BM" alone starts plenty of text; a real BMP has four reserved zero bytes after the size.
    if head.startswith(b"BM") and head[6:10] == b"\x00\x00\x00\x00":
        return "BMP image"
    return None


def looks_like_text(head: bytes) -> bool:
    """No NUL bytes, decodes as UTF-8 or Windows-1252, and at most 1 % control characters
    (UTF-16 with a byte-order mark counts as text)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM
        return len(head) % 2 == 0 or len(head) == HEAD_BYTES
    if b"\x00" in head:
        return False
    if not _decodes(head):
        return False
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return controls <= max(1, len(head) // 100)


def _decodes(head: bytes) -> bool:
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 3:  # a character cut by the end of the head
            return True
    try:
        head.decode("cp1252")  # leaves five bytes undefined; every other byte is a character
        return True
    except UnicodeDecodeError:
        return False


def describe(head: bytes) -> str:
    """A short name for what the bytes are, for error messages."""
    if not head:
        return "empty"
    known = container(head) or image_format(head)
    if known is not None:
        return known
    for magic, name in ((b"\x7fELF", "executable"), (b"MZ", "Windows executable"), (b"\x1f\x8b", "gzip archive")):
        if head.startswith(magic):
            return name
    if looks_like_text(head):
        stripped = head.lstrip().lower()
        if stripped.startswith((b"<!doctype html", b"<html")):
            return HTML
        return TEXT
    return "binary data"


@dataclass(frozen=True)
class ParserChoice:
    """How to parse one file: ``content_type`` overrides what the name claims (None: let the parser
    detect it, as it does reliably for ZIP and OLE2 containers and for text)."""

    detected: str  # describe()'s name for the bytes
    content_type: str | None = None

    @property
    def is_zip(self) -> bool:
        return self.detected == ZIP

    @property
    def is_text(self) -> bool:
        return self.detected in (TEXT, HTML)

    @property
    def is_image(self) -> bool:
        return self.detected.endswith(" image")

    @property
    def is_plain_text(self) -> bool:
        """Read as plain text by the content rule (an unknown or source-code name): our encoding
        detection decodes it."""
        return self.content_type == PLAIN_TEXT_TYPE


class ContentMismatch(ValueError):
    """The bytes are not what the name promises, or of no format verirag reads."""


def judge(head: bytes, suffix: str, text_suffixes: set[str] | frozenset[str] = TEXT_SUFFIXES) -> ParserChoice:
    """Apply the module's rules to a file's first bytes and its lower-case ``suffix``; raises
    ContentMismatch for a file no parser should read."""
    detected = describe(head)
    if detected in CONTENT_TYPES:
        # Always said, not only when the name lies: libmagic takes a PDF whose header sits after a
        # few stray bytes for text, and the parser would then store PDF syntax.
        return ParserChoice(detected, CONTENT_TYPES[detected])
    if suffix in IMAGE_SUFFIXES and image_format(head) is None:
        advice = "rename it to .txt to ingest it as text" if detected == TEXT else "remove it if it is not an image"
        raise ContentMismatch(f"named {suffix} but the bytes are {detected}, not an image; {advice}")
    if suffix in text_suffixes:
        if container(head) is None and not looks_like_text(head):
            what = detected if detected == "binary data" else f"{detected} (binary data)"
            raise ContentMismatch(
                f"named {suffix} but the bytes are {what}, not text; give the file its real extension, or "
                "remove it if it is not a document"
            )
        return ParserChoice(detected)
    if image_format(head) is not None:
        return ParserChoice(detected)
    if suffix in DOCUMENT_SUFFIXES or container(head) is not None:
        return ParserChoice(detected)
    # An unknown name, or one of a text format with no parser of its own (.py, .json, .yaml …).
    if detected == HTML:
        return ParserChoice(detected, "text/html")
    if head and looks_like_text(head):  # even when it starts like an executable ("MZ …")
        return ParserChoice(TEXT, PLAIN_TEXT_TYPE)
    if not head:
        return ParserChoice(detected)  # empty: the caller says so
    raise ContentMismatch(
        f"unsupported file type ({suffix or 'no extension'}): a binary file of no supported format (the bytes "
        f"look like {detected}); verirag reads {SUPPORTED_FORMATS}"
    )


def choose_parser(path: Path, text_suffixes: set[str] | frozenset[str] = TEXT_SUFFIXES) -> ParserChoice:
    """Decide from ``path``'s bytes (see :func:`judge`); raises ContentMismatch or OSError."""
    return judge(read_head(path), path.suffix.lower(), text_suffixes)
