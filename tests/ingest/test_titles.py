"""The document title (ingest.titles): the file's own title when it is meaningful, else the largest
text on a PDF's first page, else the first plausible heading, else the file name, with a warning."""

from __future__ import annotations

import pytest

from ingest.parse import parse_file
from ingest.titles import (FILE_NAME_WARNING, FROM_FILE_NAME, FROM_FONT, FROM_HEADING, FROM_METADATA,
                           choose_title, title_in_file, usable_title)
from ingest.content import PDF
from tests.ingest.test_normalise import PDF_TITLE, preprint_pdf


@pytest.mark.parametrize("junk", [
    "", "   ", "Microsoft Word - draft3.docx", "Microsoft PowerPoint - deck.pptx", "Untitled", "untitled-2",
    "Document1", "paper.pdf", "C:\\Users\\me\\thesis.tex", "y a M 4 2", "] L C . s c [", "9 1 0 2 y a M",
    "arXiv:1810.04805v2", "doi:10.1000/182", "12.5", "sparse_retrieval", "1st", "Unstructured-test-doc",
    "pump_station_notes", "Source: https://www.industrydocuments.ucsf.edu/docs/mjgl0226", "Contact jane@pumps.example",
])
def test_junk_is_not_a_title(junk):
    assert usable_title(junk, stem="sparse_retrieval") is None


@pytest.mark.parametrize(("raw", "title"), [
    ("BERT: Pre-training of Deep Bidirectional Transformers", "BERT: Pre-training of Deep Bidirectional Transformers"),
    ("  Attention Is   All You Need ", "Attention Is All You Need"),
    ("Eﬃcient Retrieval", "Efficient Retrieval"),
    ("A B testing at scale", "A B testing at scale"),  # two single characters, three words
    ("Self-Reliance", "Self-Reliance"),
])
def test_meaningful_titles_are_kept_and_tidied(raw, title):
    assert usable_title(raw) == title


def test_a_title_never_has_more_single_characters_than_words():
    assert usable_title("A B C testing") is None
    assert usable_title("A B testing") is None  # two single characters, one word
    assert usable_title("A B testing pumps") == "A B testing pumps"  # as many words as single characters


def test_pdf_junk_metadata_gives_way_to_the_largest_text_not_the_rotated_stamp(tmp_path):
    path = preprint_pdf(tmp_path / "sparse_retrieval.pdf")  # the stamp is set larger than the title
    assert title_in_file(path, PDF) == title_in_file(path, PDF, "ignored: no metadata title to check")
    chosen = title_in_file(path, PDF)
    assert (chosen.title, chosen.source, chosen.suspicious) == (PDF_TITLE, FROM_FONT, False)


def test_pdf_metadata_title_is_used_when_the_first_page_bears_it_out(tmp_path):
    path = preprint_pdf(tmp_path / "a.pdf", metadata_title="Sparse retrieval for pump manuals")
    page_one = f"{PDF_TITLE} jane.doe@example.com 1 Filtration"
    assert title_in_file(path, PDF, page_one).source == FROM_METADATA
    # a template's title that the page does not bear out ("Instructions for ACL ...") gives way
    template = preprint_pdf(tmp_path / "b.pdf", metadata_title="Instructions for ACL 2019 Proceedings")
    chosen = title_in_file(template, PDF, page_one)
    assert (chosen.title, chosen.source) == (PDF_TITLE, FROM_FONT)
    # ... unless the page has nothing better
    plain = preprint_pdf(tmp_path / "c.pdf", metadata_title="Instructions for ACL 2019 Proceedings", big_title=False)
    assert title_in_file(plain, PDF, "jane.doe@example.com 1 Filtration").source == FROM_METADATA


def test_pdf_without_any_title_takes_the_file_name_and_warns(tmp_path):
    document = parse_file(preprint_pdf(tmp_path / "pump_notes.pdf", big_title=False))
    assert document.title == "pump_notes"  # not "1 Filtration", the largest text left, nor the stamp
    assert FILE_NAME_WARNING in document.warnings


def test_docx_core_title_then_first_heading(tmp_path):
    import docx

    titled = docx.Document()
    titled.core_properties.title = "Quarterly Pump Review"
    titled.add_heading("Summary", level=1)
    titled.add_paragraph("Two pumps were overhauled this quarter.")
    titled.save(str(tmp_path / "review.docx"))
    untitled = docx.Document()
    untitled.core_properties.title = ""
    untitled.add_heading("Seal Replacement Procedure", level=1)
    untitled.add_paragraph("Isolate the pump before removing the gland.")
    untitled.add_heading("Tools", level=2)
    untitled.add_paragraph("A seal puller and a torque wrench.")
    untitled.save(str(tmp_path / "procedure.docx"))

    review = parse_file(tmp_path / "review.docx")
    assert review.title == "Quarterly Pump Review" and not review.warnings
    procedure = parse_file(tmp_path / "procedure.docx")
    assert procedure.title == "Seal Replacement Procedure" and not procedure.warnings
    # the title's own heading is not repeated as a section under it
    assert {block.section_path for block in procedure.blocks} == {(), ("Tools",)}


def test_html_title_element(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Heliotrope &amp; Sensor Array</title></head>"
                    "<body><h1>Overview</h1><p>The array monitors vibration.</p></body></html>")
    assert parse_file(page).title == "Heliotrope & Sensor Array"


def test_plain_text_without_a_heading_is_named_after_its_file_quietly(tmp_path):
    notes = tmp_path / "shift_notes.txt"
    notes.write_text("The night shift greased bearing four and logged the vibration readings.\n")
    document = parse_file(notes)
    assert document.title == "shift_notes" and not document.warnings


def test_choose_title_order_and_warning():
    assert choose_title(None, ["1 Introduction", "Abstract", "Pump Curves Explained"], "x", True).source == FROM_HEADING
    assert choose_title(None, ["Pump Curves Explained"], "x", True).title == "Pump Curves Explained"
    fallback = choose_title(None, ["2.1 Setup", "jane.doe@example.com.pdf"], "notes", True)
    assert (fallback.title, fallback.source, fallback.warning) == ("notes", FROM_FILE_NAME, FILE_NAME_WARNING)
    assert fallback.suspicious
    assert choose_title(None, [], "notes", False).warning is None
