"""What an uploaded file really is, from its bytes: its name and its Content-Type are only claims.

A file is accepted when its bytes match the family its extension names (a PDF starts with
``%PDF-``, a DOCX is a ZIP with ``word/`` inside, a .txt decodes as text …) and when the
Content-Type the client sent, if it says anything specific, names that family too. When the name
lies about a document whose bytes prove its format (a PDF, an RTF, an office ZIP named ``.txt``), the
bytes win, as they do when the file is parsed. Images are accepted when their bytes are an image (they
are read by OCR). A name of no document format (``.py``, ``.json``, ``.yaml``, none) is judged by content
alone: text is accepted as plain text, binary data refused. These rules are :func:`ingest.content.judge`'s,
applied here before the checks of each named family. Anything else is rejected with a reason: a
binary named .txt, a text named .png, a truncated DOCX, an HTML page named .pdf, a ZIP that unpacks
beyond the archive limits (:mod:`ingest.archive_limits`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ingest.archive_limits import ArchiveLimits, directory_problem
from ingest.content import (
    HEAD_BYTES, IMAGE_SUFFIXES, OLE2, OLE2_MAGIC, PDF, RTF, ZIP, ContentMismatch, container, describe, judge,
    looks_like_text,
)  # fmt: skip

# extension → (family, label)
EXTENSIONS: dict[str, tuple[str, str]] = {
    ".pdf": ("pdf", "PDF"),
    ".docx": ("ooxml", "DOCX"), ".pptx": ("ooxml", "PPTX"), ".xlsx": ("ooxml", "XLSX"),
    ".odt": ("odf", "ODT"), ".epub": ("odf", "EPUB"),
    ".doc": ("ole", "DOC"), ".ppt": ("ole", "PPT"),
    ".rtf": ("rtf", "RTF"),
    ".txt": ("text", "text"), ".text": ("text", "text"), ".md": ("text", "Markdown"),
    ".markdown": ("text", "Markdown"), ".csv": ("text", "CSV"), ".tsv": ("text", "TSV"),
    ".rst": ("text", "reStructuredText"), ".org": ("text", "Org"), ".log": ("text", "text"),
    ".html": ("text", "HTML"), ".htm": ("text", "HTML"), ".xml": ("text", "XML"), ".eml": ("text", "e-mail"),
    **{suffix: ("image", "image") for suffix in IMAGE_SUFFIXES},
}  # fmt: skip
# Members that make a ZIP the office format its extension claims.
OOXML_PART = {".docx": "word/", ".pptx": "ppt/", ".xlsx": "xl/"}
ODF_MIMETYPE = {".odt": b"application/vnd.oasis.opendocument.text", ".epub": b"application/epub+zip"}

SUPPORTED = ", ".join(sorted(EXTENSIONS))


@dataclass(frozen=True)
class Sniffed:
    detected: str  # what the bytes look like: PDF, DOCX, text, binary, empty …
    error: str | None = None  # None: accepted

    @property
    def accepted(self) -> bool:
        return self.error is None


def sniff_file(path: Path, name: str, claimed_type: str | None,
               archive_limits: ArchiveLimits | None = None) -> Sniffed:
    """Check the stored file ``path`` (uploaded as ``name``, sent with ``claimed_type``)."""
    size = path.stat().st_size
    if size == 0:
        return Sniffed("empty", "the file is empty")
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    suffix = Path(name).suffix.lower()
    if suffix == ".jsonl":
        return Sniffed(describe(head), "JSONL corpora are ingested with `verirag ingest FILE.jsonl`, not uploaded")
    try:
        choice = judge(head, suffix)
    except ContentMismatch as error:
        return Sniffed(describe(head), str(error))
    if choice.is_image:  # the bytes are an image, whatever the name (judge() refused a text name)
        return Sniffed(choice.detected, _claim_mismatch(claimed_type, "image", choice.detected, "image",
                                                        lenient=suffix not in EXTENSIONS))
    real = _real_suffix(head, path)
    if suffix not in EXTENSIONS and real is None:
        if choice.detected in (ZIP, OLE2):
            return Sniffed(choice.detected, f"unsupported file type {suffix or '(no extension)'}: a "
                                            f"{choice.detected} of no supported document format; supported: {SUPPORTED}")
        # judge() accepted it as text: the bytes decided, the name claims no known format
        return Sniffed("text", _claim_mismatch(claimed_type, "text", "text", "text", lenient=True))
    family, label = EXTENSIONS.get(suffix) or EXTENSIONS[real]
    named_family = family
    if real is not None and real != suffix:
        suffix, (family, label) = real, EXTENSIONS[real]  # the name lies; the bytes prove what it is
    problem = (_mismatch(family, label, suffix, head, path, archive_limits, name)
               or _claim_mismatch(claimed_type, family, label, named_family))
    return Sniffed(describe(head) if problem else label, problem)


def _real_suffix(head: bytes, path: Path) -> str | None:
    """The extension the bytes prove (PDF, RTF, an office ZIP), whatever the name says; None: no proof."""
    kind = container(head)
    if kind == PDF:
        return ".pdf"
    if kind == RTF:
        return ".rtf"
    if kind == ZIP:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                mimetype = archive.read("mimetype").strip() if "mimetype" in names else b""
        except (zipfile.BadZipFile, OSError, EOFError, KeyError, RuntimeError, NotImplementedError):
            return None  # damaged: the checks of the named family say so
        if "[Content_Types].xml" in names:
            for office_suffix, part in OOXML_PART.items():
                if any(n.startswith(part) for n in names):
                    return office_suffix
        for odf_suffix, expected in ODF_MIMETYPE.items():
            if mimetype == expected:
                return odf_suffix
    return None


def _mismatch(family: str, label: str, suffix: str, head: bytes, path: Path,
              archive_limits: ArchiveLimits | None, name: str) -> str | None:
    named = f"named {suffix} but"
    if family == "pdf":
        if b"%PDF-" not in head[:1024]:
            return f"{named} not a PDF (no %PDF- header; the bytes look like {describe(head)})"
        return None
    if family in ("ooxml", "odf"):
        if family == "ooxml" and head.startswith(OLE2_MAGIC):
            # Office saves a password-protected DOCX/XLSX/PPTX inside an OLE2 container.
            return "the file is password-protected or encrypted; save an unprotected copy and upload that"
        if not head.startswith(b"PK\x03\x04"):
            return f"{named} not a valid {label} file ({label} is a ZIP archive; the bytes look like {describe(head)})"
        return _zip_problem(path, suffix, label, archive_limits, name)
    if family == "ole":
        if not head.startswith(OLE2_MAGIC):
            return f"{named} not a legacy Office file (the bytes look like {describe(head)})"
        return None
    if family == "rtf":
        if not head.lstrip().startswith(b"{\\rtf"):
            return f"{named} not RTF (no {{\\rtf header; the bytes look like {describe(head)})"
        return None
    if not looks_like_text(head):
        return f"{named} not {label}: it holds binary data (the bytes look like {describe(head)})"
    return None


def _zip_problem(path: Path, suffix: str, label: str, archive_limits: ArchiveLimits | None,
                 name: str) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            if archive_limits is not None and (too_big := directory_problem(archive, name, archive_limits)):
                return too_big
            names = archive.namelist()
            if suffix in OOXML_PART:
                if "[Content_Types].xml" not in names or not any(n.startswith(OOXML_PART[suffix]) for n in names):
                    return f"a ZIP archive, but not a valid {label} file (no {OOXML_PART[suffix]} part inside)"
            elif archive.read("mimetype").strip() != ODF_MIMETYPE[suffix]:
                return f"a ZIP archive, but not a valid {label} file (wrong mimetype entry)"
    except KeyError:
        return f"a ZIP archive, but not a valid {label} file (no mimetype entry)"
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"a damaged or truncated {label} ({error}); upload the complete file"
    return None


# Content-Type → family; generic types (application/octet-stream) claim nothing.
def _claimed_family(content_type: str) -> str | None:
    mime = content_type.split(";", 1)[0].strip().lower()
    if not mime or mime in ("application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"):
        return None
    if mime == "application/pdf":
        return "pdf"
    if mime.startswith("application/vnd.openxmlformats-officedocument."):
        return "ooxml"
    if mime in ("application/vnd.oasis.opendocument.text", "application/epub+zip"):
        return "odf"
    if mime in ("application/msword", "application/vnd.ms-powerpoint"):
        return "ole"
    if mime in ("application/rtf", "text/rtf"):
        return "rtf"
    if mime.startswith("text/") or mime in ("message/rfc822", "application/xml", "application/xhtml+xml"):
        return "text"
    if mime in ("application/zip", "application/x-zip-compressed"):
        return "zip"
    if mime.startswith("image/"):
        return "image"
    return "other:" + mime


def _claim_mismatch(claimed_type: str | None, family: str, label: str, named_family: str,
                    lenient: bool = False) -> str | None:
    """``lenient``: the name claims no known format; only a claim of another document family
    (application/pdf for text …) contradicts the bytes, not application/json or text/x-python."""
    claimed = _claimed_family(claimed_type or "")
    if claimed is None or claimed == family or (claimed == "zip" and family in ("ooxml", "odf")):
        return None
    if lenient and (claimed.startswith("other:") or claimed == "text"):
        return None
    if claimed == named_family:
        return None  # the client took the type from the (wrong) name; the bytes already decided
    return f"sent as Content-Type {claimed_type!r} but the bytes are {label}; send the file's real type"


__all__ = ["Sniffed", "describe", "looks_like_text", "sniff_file"]
