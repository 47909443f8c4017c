"""Text from images and from PDF pages without a text layer, by OCR with tesseract, offline.

tesseract is a system program (Debian: ``tesseract-ocr``, English included), found on ``PATH``;
nothing is downloaded, and ingestion works without it: an image then fails with a reason naming
the package, and a PDF page without a text layer is reported in the document's warnings (a PDF
with no text layer at all fails, saying so). PDF pages are rendered with pypdfium2 (part of
unstructured's PDF extra), so poppler is not needed.

Only pages the ``fast`` PDF parser found no text on are looked at again: first their text layer as
pdfium reads it (pdfminer gives up on some damaged files), then, where there is none, OCR. A PDF
whose text the fast parser reads costs nothing more. The OCR'd text is split into elements by unstructured's plain-text partitioner
(short standalone lines become titles, as in a text file), each with its page number, and the
document's warnings say which pages were OCR'd.

Cost: about 1–3 s of CPU per page at ``RENDER_DPI`` on one core (tesseract runs single-threaded,
``OMP_THREAD_LIMIT=1``: on a small machine threads only contend). tesseract runs as a child of the
parse process, so its CPU time is bounded by the parse worker's wall-clock limit, not by the parse
process's CPU limit.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

TESSERACT_PACKAGE = "tesseract-ocr"
LANGUAGE = "eng"
# Scans are usually 300 dpi; tesseract reads body text best at that resolution.
RENDER_DPI = 300
POINTS_PER_INCH = 72
MAX_RENDER_PIXELS = 40_000_000  # an A1 sheet at 200 dpi; an A4 page at 300 dpi is 8.7 million
# Frames beyond this in a multi-page TIFF are not read (a fax or a scanned booklet has far fewer).
MAX_IMAGE_FRAMES = 500
# OCR of a drawing yields stray marks ("|", "O", "—"); a page counts as text only with at least this
# many letters and digits in words of two or more.
MIN_OCR_LETTERS = 3


class OcrUnavailable(Exception):
    """OCR is needed and tesseract cannot run; the message names what to install."""


class OcrFailed(Exception):
    """The image could not be read, or tesseract failed on it."""


@dataclass(frozen=True)
class OcrResult:
    """Elements (unstructured's) in page order, what the document's warnings should say, and the
    page count when known."""

    elements: list
    warnings: tuple[str, ...] = ()
    page_count: int | None = None


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def missing_tesseract(what: str) -> str:
    return (
        f"{what} needs OCR, and tesseract is not installed; install it (Debian/Ubuntu: apt-get install "
        f"{TESSERACT_PACKAGE}) and ingest the file again"
    )


def pages_phrase(pages: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"pages 1-3, 7"``; ``[4]`` → ``"page 4"``."""
    numbers = sorted(set(pages))
    runs: list[str] = []
    start = previous = None
    for number in [*numbers, None]:
        if number is not None and previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            runs.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    return ("page " if len(numbers) == 1 else "pages ") + ", ".join(runs)


def ocr_text(image) -> str:
    """One PIL image → its text (``""`` when tesseract finds none)."""
    import unstructured_pytesseract as tesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        return tesseract.image_to_string(image, lang=LANGUAGE)
    except tesseract.TesseractNotFoundError as error:
        raise OcrUnavailable(missing_tesseract("this file")) from error
    except tesseract.TesseractError as error:
        message = str(error)
        if "traineddata" in message or "language" in message.lower():
            raise OcrUnavailable(
                f"tesseract has no {LANGUAGE!r} language data; install it (Debian/Ubuntu: apt-get install "
                f"tesseract-ocr-{LANGUAGE})"
            ) from error
        raise OcrFailed(f"tesseract failed ({message[:200]})") from error


def text_elements(text: str, page: int | None) -> list:
    """OCR output → unstructured elements with ``page``: a paragraph's lines are joined (tesseract
    breaks them where the scan does), words hyphenated across a line break are rejoined."""
    from unstructured.partition.text import partition_text

    if sum(len(word) for word in re.findall(r"[^\W_]{2,}", text)) < MIN_OCR_LETTERS:
        return []  # a rule or a circle read as "|" or "O": no text
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    paragraphs = [" ".join(line.strip() for line in block.splitlines() if line.strip())
                  for block in re.split(r"\n\s*\n", text)]
    body = "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
    if not body:
        return []
    elements = partition_text(text=body, languages=[LANGUAGE])
    for element in elements:
        element.metadata.page_number = page
    return elements


def _image_frames(path: Path) -> Iterator[tuple[int, object]]:
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        frames = ImageSequence.Iterator(image) if image.format == "TIFF" else [image]
        for number, frame in enumerate(frames, start=1):
            if number > MAX_IMAGE_FRAMES:
                break
            yield number, frame.convert("RGB")


def image_elements(path: Path, detected: str) -> OcrResult:
    """Every frame of an image (the pages of a multi-page TIFF; the first frame of others) OCR'd."""
    if not tesseract_available():
        raise OcrUnavailable(missing_tesseract(f"a {detected}"))
    from PIL import Image, UnidentifiedImageError

    elements: list = []
    frames = _image_frames(path)
    count = 0
    while True:
        try:
            count, frame = next(frames)
        except StopIteration:
            break
        except Image.DecompressionBombError as error:
            raise OcrFailed(f"the {detected} has too many pixels to read safely ({error})") from error
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise OcrFailed(
                f"the {detected} is damaged or truncated ({type(error).__name__}: {str(error)[:160]})"
            ) from error
        elements.extend(text_elements(ocr_text(frame), count))
    return OcrResult(elements, ("OCR used: the text was read from an image",), count or None)


def pdf_page_count(path: Path) -> int | None:
    """The page count pypdf reads, or None for a PDF it cannot open or that is encrypted (those
    are explained by ``ingest.parse.explain_empty``, not OCR'd)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            return None
        return len(reader.pages)
    except Exception:  # noqa: BLE001 - pypdf raises anything on damage; the caller explains it
        return None


def complete_pdf(path: Path, elements: list, pages_with_text: set[int]) -> OcrResult:
    """Fill in the pages of a PDF that ``elements`` (the fast parser's) hold no text for: first from
    the text layer as pdfium reads it (pdfminer gives up on some damaged files whose text pdfium still
    reads), then, for pages with no text layer at all, by OCR when tesseract is installed. The
    warnings say which pages were read how, or left without text."""
    page_count = pdf_page_count(path)
    if page_count is None:
        return OcrResult(elements)
    textless = [page for page in range(1, page_count + 1) if page not in pages_with_text]
    if not textless:
        return OcrResult(elements, (), page_count)
    added: list = []
    warnings: list[str] = []
    layer = {page: text_elements(text, page) for page, text in _text_layer(path, textless)}
    recovered = [page for page in textless if layer.get(page)]
    if recovered:
        added.extend(element for page in recovered for element in layer[page])
        warnings.append(f"text of {pages_phrase(recovered)} read with a second PDF reader (pdfium): the main "
                        "parser found none there, so headings may be missing")
        textless = [page for page in textless if page not in recovered]
    if textless and not tesseract_available():
        if len(textless) < page_count:  # with no text at all, explain_empty says why instead
            warnings.append(f"no text layer on {pages_phrase(textless)} (scanned or images only): not read, "
                            f"because tesseract is not installed (Debian/Ubuntu: apt-get install {TESSERACT_PACKAGE})")
    elif textless:
        read, blank = [], []
        for page, image in _render_pages(path, textless):
            found = text_elements(ocr_text(image), page)
            (read if found else blank).append(page)
            added.extend(found)
        if read:
            warnings.append(f"OCR used: no text layer on {pages_phrase(read)}, the text was read from the page images")
        if blank:
            warnings.append(f"no text on {pages_phrase(blank)}: no text layer, and OCR found none (blank, or pictures only)")
    merged = sorted([*elements, *added], key=lambda element: getattr(element.metadata, "page_number", None) or 0)
    return OcrResult(merged, tuple(warnings), page_count)


def _text_layer(path: Path, pages: list[int]) -> Iterator[tuple[int, str]]:
    """Each page's text layer as pdfium reads it (nothing for a file pdfium cannot open)."""
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - pypdfium2 raises PdfiumError and others on damage
        return
    try:
        for page_number in pages:
            page = document[page_number - 1]
            try:
                textpage = page.get_textpage()
                try:
                    yield page_number, textpage.get_text_range().replace("\r\n", "\n")
                finally:
                    textpage.close()
            finally:
                page.close()
    finally:
        document.close()


def _render_pages(path: Path, pages: list[int]) -> Iterator[tuple[int, object]]:
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        for page_number in pages:
            page = document[page_number - 1]
            try:
                width, height = page.get_size()
                # A poster-sized page at full resolution would need gigabytes: cap the pixels.
                scale = min(RENDER_DPI / POINTS_PER_INCH, (MAX_RENDER_PIXELS / max(width * height, 1.0)) ** 0.5)
                bitmap = page.render(scale=scale)
                image = bitmap.to_pil()
            finally:
                page.close()
            try:
                yield page_number, image
            finally:
                image.close()
    finally:
        document.close()
