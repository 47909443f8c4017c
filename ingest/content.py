"""What a file is, judged from its bytes: a file's name only claims a format.

The parser is chosen by content wherever the bytes name a format for certain (a PDF or RTF header;
unstructured itself recognises ZIP and OLE2 containers by their bytes), so a PDF saved as ``.txt`` is read as a PDF, not stored as PDF
syntax. A file whose name says text but whose bytes are binary data of no known document format is
refused with a reason. ``api.jobs.sniff`` applies the same rules to uploads.
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
CONTENT_TYPES = {PDF: "application/pdf", RTF: "text/rtf"}


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


def looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM
        return len(head) % 2 == 0 or len(head) == HEAD_BYTES
    if b"\x00" in head:
        return False
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return controls <= max(1, len(head) // 100)


def describe(head: bytes) -> str:
    """A short name for what the bytes are, for error messages."""
    if not head:
        return "empty"
    known = container(head)
    if known is not None:
        return known
    for magic, name in ((b"\x89PNG", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF8", "GIF image"),
                        (b"\x7fELF", "executable"), (b"MZ", "Windows executable"), (b"\x1f\x8b", "gzip archive")):
        if head.startswith(magic):
            return name
    if looks_like_text(head):
        stripped = head.lstrip().lower()
        if stripped.startswith((b"<!doctype html", b"<html")):
            return "HTML"
        return "text"
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
        return self.detected in ("text", "HTML")


class ContentMismatch(ValueError):
    """The name promises text, the bytes are binary data no parser reads."""


def choose_parser(path: Path, text_suffixes: set[str]) -> ParserChoice:
    """Decide from ``path``'s bytes; raises ContentMismatch for binary data named as text."""
    head = read_head(path)
    detected = describe(head)
    suffix = path.suffix.lower()
    if detected in CONTENT_TYPES:
        # Always said, not only when the name lies: libmagic takes a PDF whose header sits after a
        # few stray bytes for text, and the parser would then store PDF syntax.
        return ParserChoice(detected, CONTENT_TYPES[detected])
    if suffix in text_suffixes and container(head) is None and not looks_like_text(head):
        raise ContentMismatch(
            f"named {suffix} but the bytes are {detected}, not text; give the file its real extension, or "
            "remove it if it is not a document"
        )
    return ParserChoice(detected)
