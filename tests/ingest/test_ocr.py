"""Images and PDF pages without a text layer: read by OCR when tesseract is installed, refused or
reported with a reason naming the package when it is not — never unstructured's raw message.

The images and PDFs are drawn here: text rendered into pixels with Pillow, PDF pages that hold only
that image (no text layer), and a PDF whose first page has a text layer and second page does not.
"""

from __future__ import annotations

import shutil

import pytest

from ingest.parse import ParseError, parse_file
from ingest.parse_worker import ParseLimits, ParseWorker
from rag.settings import Settings
from tests.fixtures.formats import normalize, write_bad_files
from tests.ingest.ocr_documents import TEXT_PAGE, mixed_pdf, pdf_of_pages, scanned_pdf, text_image, write_png

pytestmark = pytest.mark.isolated  # PDFs and images parsed in this process

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="tesseract is not installed (Debian: apt-get install tesseract-ocr; .ci/run installs it)",
)

@pytest.fixture
def without_tesseract(monkeypatch, tmp_path):
    """tesseract is looked up on PATH: an empty PATH hides it, installed or not."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def words(text: str) -> str:
    return normalize(text).lower()


# -- with tesseract -------------------------------------------------------------------------------


@needs_tesseract
@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tiff")])
def test_an_image_is_read_by_ocr(tmp_path, fmt, suffix):
    path = tmp_path / f"kestrel{suffix}"
    path.write_bytes(text_image(fmt=fmt))
    document = parse_file(path)
    assert "kestrel valve opens at 12 bar" in words(document.text)
    assert any("OCR used" in warning for warning in document.warnings)
    assert document.page_count == 1 and {block.page for block in document.blocks} == {1}


@needs_tesseract
def test_an_image_named_as_something_else_is_still_read(tmp_path):
    path = tmp_path / "scan-0001.dat"  # scanners name files oddly; the bytes say PNG
    path.write_bytes(text_image())
    assert "kestrel" in words(parse_file(path).text)


@needs_tesseract
def test_a_pdf_without_a_text_layer_is_read_by_ocr(tmp_path):
    document = parse_file(scanned_pdf(tmp_path / "scan.pdf"))
    assert "kestrel valve opens at 12 bar" in words(document.text)
    assert document.page_count == 1
    assert any(w.startswith("OCR used") and "page 1" in w for w in document.warnings), document.warnings


@needs_tesseract
def test_only_the_pages_without_a_text_layer_are_ocrd(tmp_path):
    document = parse_file(mixed_pdf(tmp_path / "mixed.pdf"))
    by_page = {page: words(" ".join(b.text for b in document.blocks if b.page == page)) for page in (1, 2)}
    assert "heron pump delivers 40 litres per second" in by_page[1]
    assert "kestrel valve opens at 12 bar" in by_page[2] and "heron" not in by_page[2]
    assert document.page_count == 2
    ocr_warnings = [w for w in document.warnings if w.startswith("OCR used")]
    assert len(ocr_warnings) == 1 and "page 2" in ocr_warnings[0] and "page 1" not in ocr_warnings[0]


@needs_tesseract
def test_a_drawing_without_text_still_fails_as_having_no_text_layer(tmp_path):
    """OCR of circles and lines finds no words: the document fails, the reason says so."""
    bad = write_bad_files(tmp_path)
    with pytest.raises(ParseError) as refused:
        parse_file(bad["notext"])
    assert "no text layer" in str(refused.value) and "OCR found no text" in str(refused.value)


@needs_tesseract
def test_ocr_warnings_travel_through_the_parse_worker(tmp_path):
    worker = ParseWorker(ParseLimits.from_settings(Settings(data_dir=tmp_path / "data")))
    try:
        document = worker.parse(mixed_pdf(tmp_path / "mixed.pdf"))
    finally:
        worker.close()
    assert "kestrel" in words(document.text) and document.page_count == 2
    assert document.warnings == parse_file(tmp_path / "mixed.pdf").warnings != ()


# -- without tesseract ----------------------------------------------------------------------------


def test_without_tesseract_an_image_fails_naming_the_package(tmp_path, without_tesseract):
    with pytest.raises(ParseError) as refused:
        parse_file(write_png(tmp_path / "kestrel.png"))
    reason = str(refused.value)
    assert "PNG image needs OCR" in reason and "apt-get install tesseract-ocr" in reason
    assert "fast strategy" not in reason and "not available" not in reason


def test_without_tesseract_a_scanned_pdf_fails_saying_why(tmp_path, without_tesseract):
    with pytest.raises(ParseError) as refused:
        parse_file(scanned_pdf(tmp_path / "scan.pdf"))
    reason = str(refused.value)
    assert "1 page(s) but no text layer" in reason and "tesseract-ocr" in reason


def test_without_tesseract_a_pdf_keeps_its_text_and_names_the_pages_left_unread(tmp_path, without_tesseract):
    document = parse_file(mixed_pdf(tmp_path / "mixed.pdf"))
    assert "heron pump" in words(document.text) and "kestrel" not in words(document.text)
    layer = [w for w in document.warnings if "text layer" in w or "OCR" in w]
    assert document.page_count == 2 and len(layer) == 1
    assert "no text layer on page 2" in layer[0] and "tesseract-ocr" in layer[0]


def test_a_pdf_with_a_text_layer_has_no_warnings(tmp_path, without_tesseract):
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf_of_pages([TEXT_PAGE, "Second page: the Heron pump was accepted."]))
    document = parse_file(path)
    assert not [w for w in document.warnings if "text layer" in w or "OCR" in w] and document.page_count == 2


def test_pages_are_named_in_runs():
    from ingest.ocr import pages_phrase

    assert pages_phrase([4]) == "page 4"
    assert pages_phrase([3, 1, 2, 7, 9, 10]) == "pages 1-3, 7, 9-10"
