"""Tables stay tables: one row a line, split by rows, the header repeated for every later chunk.

The unit tests feed ``ingest.tables`` HTML like unstructured's ``text_as_html``; the parse tests write
their own CSV, XLSX, DOCX, HTML and Markdown files and go through ``parse_file``; one test reads the
shared data sets' table files and skips when they are absent.
"""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest

from ingest.chunking import ChunkBudget, Chunker
from ingest.parse import ParsedDocument, assemble, parse_file
from ingest.tables import CELL_SEPARATOR, MAX_WORD_CHARS, parse_html_table, table_text


def words(text: str) -> int:
    """A stand-in tokenizer: a token a word, plus [CLS] and [SEP] as the real one counts them."""
    return len(text.split()) + 2


def element(category: str, text: str, html: str | None = None, page: int | None = 1):
    metadata = SimpleNamespace(page_number=page, category_depth=0, text_as_html=html)
    return SimpleNamespace(category=category, text=text, metadata=metadata)


def html_table(rows: list[list[str]], header: list[str] | None = None) -> str:
    head = "<thead><tr>" + "".join(f"<th>{c}</th>" for c in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def lines_of(document: ParsedDocument) -> list[str]:
    return [block.text.split("\n") for block in document.blocks if block.is_table][0]


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def test_rows_become_lines_with_the_header_first():
    table = parse_html_table(
        "<table><caption>Stock</caption><thead><tr><th>Item</th><th>Price</th><th>In stock</th></tr></thead>"
        "<tbody><tr><td>Apples</td><td>1.99</td><td>739</td></tr>"
        "<tr><td>Pears<br/>(green)</td><td></td><td>6 &amp; more</td></tr></tbody></table>"
    )
    assert table.text.split("\n") == [
        "Stock",
        "Item | Price | In stock",
        "Apples | 1.99 | 739",
        "Pears (green) |  | 6 & more",
    ]
    assert table.header == "Stock\nItem | Price | In stock"
    assert table.text.startswith(table.header)


def test_merged_cells_keep_later_cells_in_their_columns():
    table = parse_html_table(
        "<table><tr><td rowspan='2'>Unit 1</td><td colspan='2'>Bearings</td><td>Oil</td></tr>"
        "<tr><td>guide</td><td>thrust</td><td>ISO 46</td></tr>"
        "<tr><td>Unit 2</td><td colspan='999999'>all</td></tr></table>"
    )
    lines = table.text.split("\n")
    assert lines[0] == "Unit 1 | Bearings |  | Oil"
    assert lines[1] == "| guide | thrust | ISO 46"  # the column under "Unit 1" is left empty
    assert lines[2] == "Unit 2 | all"  # the blank positions a span leaves at the end are dropped
    assert table.header == lines[0]  # no header markup: the first row


def test_ragged_rows_empty_rows_and_sloppy_html_do_not_crash():
    table = parse_html_table(
        "<table><tr><td>a<td>b<td>c<tr><td>d<tr><td></td><td> </td><tr><td>e<td><td>f</td><td></td></table>"
    )
    assert table.text.split("\n") == ["a | b | c", "d", "e |  | f"]
    assert parse_html_table("<table><tr><td></td></tr></table>") is None
    assert parse_html_table("<p>no table</p>") is None


def test_a_table_nested_in_a_cell_adds_its_text_to_that_cell():
    table = parse_html_table(
        "<table><tr><th>Part</th><th>Notes</th></tr>"
        "<tr><td>valve</td><td>see<table><tr><td>x1</td><td>x2</td></tr></table>below</td></tr></table>"
    )
    assert table.text.split("\n") == ["Part | Notes", "valve | see x1 x2 below"]


def test_a_blob_in_a_cell_is_cut_and_prose_is_kept():
    table = parse_html_table(html_table([["id", "text"], ["1", "A" * 5000], ["2", "word " * 2000]]))
    lines = table.text.split("\n")
    assert lines[1] == "1" + CELL_SEPARATOR + "A" * MAX_WORD_CHARS + "…"
    assert lines[2] == "2" + CELL_SEPARATOR + " ".join(["word"] * 2000)


def test_without_html_the_element_text_is_kept_and_no_header_claimed():
    table = table_text(element("Table", "2019 12.1 13.4\n 2020  11.0 9.8 "))
    assert table.text == "2019 12.1 13.4\n2020 11.0 9.8"
    assert table.header is None


# --------------------------------------------------------------------------------------------
# Blocks and chunks
# --------------------------------------------------------------------------------------------


def long_table_document(rows: int = 120, prose: bool = True) -> ParsedDocument:
    body = [[f"WO-{n:04d}", f"Unit {n % 4 + 1}", f"bearing check number {n}", f"{n / 7:.2f}"] for n in range(rows)]
    html = html_table(body, header=["Work order", "Unit", "Action", "Hours"])
    elements = [element("Title", "Maintenance log")]
    if prose:
        elements.append(element("NarrativeText", "The log below lists every work order of the year. " * 3))
    elements.append(element("Table", " ".join(" ".join(row) for row in body), html))
    if prose:
        elements.append(element("NarrativeText", "Hours are rounded to two decimals."))
    return assemble(elements, fallback_title="log")


def test_a_table_is_a_block_whose_text_is_its_rows():
    document = long_table_document(rows=3)
    [table] = [block for block in document.blocks if block.is_table]
    assert table.table_header == "Work order | Unit | Action | Hours"
    assert table.text.split("\n")[1] == "WO-0000 | Unit 1 | bearing check number 0 | 0.00"
    assert document.text[table.start : table.end] == table.text
    assert all(not block.is_table and block.table_header is None for block in document.blocks if block is not table)


def test_a_long_table_splits_by_rows_and_repeats_its_header():
    document = long_table_document()
    [table] = [block for block in document.blocks if block.is_table]
    rows = set(table.text.split("\n"))
    chunker = Chunker(words, ChunkBudget(512, 64, 8))
    chunks = chunker.chunk(document, "log", "log.html", "hash")
    table_chunks = [c for c in chunks if table.start <= c.metadata.char_start < table.end]
    assert len(table_chunks) > 5
    for chunk in chunks:
        assert document.text[chunk.metadata.char_start : chunk.metadata.char_end] == chunk.text, "spans are honest"
        assert words(chunk.embedding_text) <= 64
        inside = table.start <= chunk.metadata.char_start and chunk.metadata.char_end <= table.end
        outside = chunk.metadata.char_end <= table.start or chunk.metadata.char_start >= table.end
        assert inside or outside, "a long table shares no chunk with the prose around it"
    assert table_chunks[0].text.startswith(table.table_header)
    assert table_chunks[0].metadata.table_header is None  # it holds the header already
    for chunk in table_chunks:
        assert set(chunk.text.split("\n")) <= rows, "whole rows only"
    for chunk in table_chunks[1:]:
        assert chunk.metadata.table_header == table.table_header
        assert chunk.embedding_text.endswith(f"\n{table.table_header}\n{chunk.text}")
    covered = "\n".join(chunk.text for chunk in table_chunks)
    assert covered == table.text, "every row once, in order, no overlap"


def test_a_small_table_stays_with_its_small_section():
    document = long_table_document(rows=2)
    chunks = Chunker(words, ChunkBudget(512, 256, 16)).chunk(document, "log", "log.html", "hash")
    assert len(chunks) == 1
    assert chunks[0].text == document.text and chunks[0].metadata.table_header is None


def test_a_row_longer_than_a_chunk_is_cut_and_a_wide_header_shortened():
    header = [f"column{n}" for n in range(200)]
    body = [[f"{n}.{c}" for c in range(200)] for n in range(3)]
    document = assemble([element("Table", "x", html_table(body, header=header))], fallback_title="wide")
    chunks = Chunker(words, ChunkBudget(512, 96, 0)).chunk(document, "wide", "wide.csv", "hash")
    assert len(chunks) > 4
    for chunk in chunks:
        assert document.text[chunk.metadata.char_start : chunk.metadata.char_end] == chunk.text
        assert words(chunk.embedding_text) <= 96
    repeated = [c.metadata.table_header for c in chunks if c.metadata.table_header]
    assert repeated, "the rows after the header carry it"
    assert all(h.endswith("…") and "column0 | column1" in h for h in repeated)
    assert not any(c.metadata.table_header for c in chunks if c.metadata.char_start < len(CELL_SEPARATOR.join(header)))


def test_the_real_tokenizer_budget_holds_for_table_chunks(embedder):
    document = long_table_document(rows=200)
    chunker = Chunker(embedder.count_tokens, ChunkBudget(embedder.max_tokens, 128, 16))
    chunks = chunker.chunk(document, "log", "log.html", "hash")
    assert any(c.metadata.table_header for c in chunks)
    for chunk in chunks:
        assert embedder.count_tokens(chunk.embedding_text) <= 128
        assert document.text[chunk.metadata.char_start : chunk.metadata.char_end] == chunk.text


# --------------------------------------------------------------------------------------------
# Real files, written here
# --------------------------------------------------------------------------------------------


def test_csv_rows_stay_rows(tmp_path):
    path = tmp_path / "log.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "unit", "action", "notes"])
        writer.writerow(["2024-01-09", "Unit 1", "cleaned", "Leaves, branches after storm"])
        writer.writerow(["2024-01-23", "Unit 3", "replaced", ""])
        writer.writerow(["2024-02-13", "Unit 2"])  # a ragged row
    document = parse_file(path)
    lines = lines_of(document)
    assert lines[:3] == [
        "date | unit | action | notes",
        "2024-01-09 | Unit 1 | cleaned | Leaves, branches after storm",
        "2024-01-23 | Unit 3 | replaced",
    ]
    # unstructured (0.27) writes the cells pandas pads a short CSV row with as the word "None"
    assert lines[3] in ("2024-02-13 | Unit 2", "2024-02-13 | Unit 2 | None | None")
    [table] = [block for block in document.blocks if block.is_table]
    assert table.table_header == "date | unit | action | notes"


def test_xlsx_rows_stay_rows(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Inspections"
    for row in (("Batch", "Pressure\n(psi)", "Result"), ("TG-5519", 690, "Leak"), ("TG-5520", 725, "Passed")):
        sheet.append(row)
    path = tmp_path / "inspections.xlsx"
    workbook.save(str(path))
    lines = lines_of(parse_file(path))
    assert lines == ["Batch | Pressure (psi) | Result", "TG-5519 | 690 | Leak", "TG-5520 | 725 | Passed"]


def test_docx_rows_stay_rows_with_a_merged_cell(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("Pump ratings follow.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["Pump", "Flow", "Head"], ["P-1", "40 l/s", "12 m"], ["P-2", "55 l/s", ""]]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    table.cell(2, 1).merge(table.cell(2, 2))  # "55 l/s" spans two columns
    path = tmp_path / "pumps.docx"
    document.save(str(path))
    lines = lines_of(parse_file(path))
    assert lines[0] == "Pump | Flow | Head"
    assert lines[1] == "P-1 | 40 l/s | 12 m"
    assert lines[2].startswith("P-2 | 55 l/s")


def test_html_and_markdown_tables_stay_rows(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><h1>Prices</h1><table><thead><tr><th>Item</th><th>Price</th></tr></thead>"
        "<tbody><tr><td>Apples</td><td>1.99</td></tr><tr><td>Pears</td><td>2.49</td></tr></tbody></table>"
        "</body></html>",
        encoding="utf-8",
    )
    assert lines_of(parse_file(page)) == ["Item | Price", "Apples | 1.99", "Pears | 2.49"]
    markdown = tmp_path / "prices.md"
    markdown.write_text("# Prices\n\nItem | Price\n---|---\nApples | 1.99\nPears | 2.49\n", encoding="utf-8")
    assert lines_of(parse_file(markdown)) == ["Item | Price", "Apples | 1.99", "Pears | 2.49"]


REAL_TABLE_FILES = [
    "vodafone.xlsx",
    "2023-half-year-analyses-by-segment.xlsx",
    "csv-with-long-lines.csv",
    "docx-tables.docx",
    "tables-with-incomplete-rows.docx",
    "simple-table.md",
]


@pytest.mark.parametrize("name", REAL_TABLE_FILES)
def test_real_tables_parse_to_rows(shared_datasets, name):
    path = shared_datasets / "docs" / "realistic" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    document = parse_file(path)
    tables = [block for block in document.blocks if block.is_table]
    assert tables, f"{name}: no table block"
    for block in tables:
        assert document.text[block.start : block.end] == block.text
        assert block.table_header and block.text.startswith(block.table_header)
    assert any(len(block.text.split("\n")) > 1 for block in tables), f"{name}: every table is one line"
    chunks = Chunker(words, ChunkBudget(512, 128, 16)).chunk(document, name, name, "hash")
    for chunk in chunks:
        assert document.text[chunk.metadata.char_start : chunk.metadata.char_end] == chunk.text
