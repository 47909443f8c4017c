"""A unstructured ``Table`` element as rows of text: one row a line, cells joined by `` | ``.

unstructured's ``Table.text`` is every cell joined by spaces, so a table reads as a run of numbers and
its header is lost to every chunk but the first. The structure survives in
``element.metadata.text_as_html``, which unstructured fills for CSV, TSV, XLSX, DOCX, ODT, PPTX, HTML
and Markdown tables (and for PDF tables only under the ``hi_res`` strategy, which ingestion does not
use); this module reads that HTML back into rows.

The rendering, which becomes the document's text (so spans, quotes and citations all point at it):

- one row a line, cells joined by ``CELL_SEPARATOR`` (`` | ``), no outer pipes and no Markdown rule
  line: the rows read as Markdown pipe rows without the decoration, which costs tokens and says
  nothing (a row whose first cell is empty starts with ``| ``). A ``|`` inside a cell is kept as
  written: the text is for reading, not for parsing back.
- the header first: the rows in ``<thead>``, or the leading rows made only of ``<th>`` cells (at most
  ``MAX_HEADER_ROWS``; when every row is marked, none is told apart), or else the first row (CSV and XLSX tables carry no header markup; their first row is the header by
  convention). A ``<caption>`` is a line of its own above the header and counts as part of it, so
  it is repeated with the header too.
- a cell's whitespace (line breaks included) collapses to single spaces, so a row never spans lines.
  XLSX cells come through pandas, which writes a line break in a cell as the two characters ``\n``
  (and a tab as ``\t``): in tables from spreadsheets those are line breaks too.
- merged cells: a cell with ``colspan``/``rowspan`` gives its text to the first grid position it
  covers and leaves the others empty, so later cells keep their columns without the text being
  repeated (which would inflate its term counts in the sparse index). Spans are clamped to
  ``MAX_SPAN``, the HTML limit for ``colspan``.
- ragged rows are kept as they are: a short row has fewer cells, and empty cells at the end of a row
  are dropped (CSV readers pad rows to the widest one); a row with no text at all is dropped.
- a run of more than ``MAX_WORD_CHARS`` characters without a space (an encoded image, a hash
  list, minified data pasted into a cell) is cut there and marked with ``…``. Cell length itself is
  not capped: unstructured makes a ``Table`` of every HTML table, layout tables included, whose
  cells hold whole articles, and a cap would drop that prose. Rows longer than a chunk are the
  chunker's to cut (:mod:`ingest.chunking`), and it shortens a header too long to repeat.

With no ``text_as_html`` the element's own text is all there is: its lines become single-cell rows
and no header is claimed, since nothing says the first line is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

CELL_SEPARATOR = " | "
ROW_SEPARATOR = "\n"
MAX_WORD_CHARS = 200
MAX_SPAN = 1000
# A table header of more rows than this is a misread body (every row of some PDF tables is <th>).
MAX_HEADER_ROWS = 3
_ELLIPSIS = "…"
# unstructured's filetypes for workbooks: pandas renders their tables, escapes included (module docstring).
SPREADSHEET_TYPES = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/vnd.ms-excel"}
_PANDAS_ESCAPES = ("\\n", "\\r", "\\t")


@dataclass(frozen=True, slots=True)
class TableText:
    """A table rendered as lines. ``header``: the leading lines that name the columns (``text``
    starts with it), or None when the table's structure is unknown."""

    text: str
    header: str | None


def table_text(element: object) -> TableText | None:
    """``element`` (a unstructured ``Table``) as rows, or None when it holds no text."""
    metadata = getattr(element, "metadata", None)
    html = getattr(metadata, "text_as_html", None)
    if isinstance(html, str) and html.strip():
        table = parse_html_table(html, pandas_escapes=getattr(metadata, "filetype", None) in SPREADSHEET_TYPES)
        if table is not None:
            return table
    lines = [" ".join(line.split()) for line in (getattr(element, "text", "") or "").splitlines()]
    text = ROW_SEPARATOR.join(line for line in lines if line)
    return TableText(text, None) if text else None


def parse_html_table(html: str, pandas_escapes: bool = False) -> TableText | None:
    """The rows of the table(s) in ``html`` rendered as lines; None when no cell holds text.
    ``pandas_escapes``: ``\\n``, ``\\r`` and ``\\t`` in a cell are pandas' escapes of line breaks and tabs."""
    reader = _TableReader(pandas_escapes)
    reader.feed(html)
    reader.close()
    return _render(reader.captions, reader.rows)


def _render(captions: list[str], rows: list[_Row]) -> TableText | None:
    """Place the cells on a grid (spans), render each row as a line and find the header lines."""
    lines: list[tuple[str, bool]] = []  # (line, header-like)
    for cells, row in zip(_grid(rows), rows):
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            lines.append((CELL_SEPARATOR.join(cells).strip(), row.header_like))
    if not lines:
        return None
    marked = 0
    while marked < len(lines) and lines[marked][1]:
        marked += 1
    # None marked, or all (every row of some PDF tables is <th>): the first row is the header.
    header_rows = min(marked, MAX_HEADER_ROWS) if 0 < marked < len(lines) else 1
    caption_lines = [caption for caption in captions if caption]
    header = ROW_SEPARATOR.join(caption_lines + [line for line, _ in lines[:header_rows]])
    text = ROW_SEPARATOR.join(caption_lines + [line for line, _ in lines])
    return TableText(text, header)


@dataclass
class _Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    is_th: bool = False


@dataclass
class _Row:
    cells: list[_Cell]
    in_thead: bool

    @property
    def header_like(self) -> bool:
        return self.in_thead or (bool(self.cells) and all(cell.is_th for cell in self.cells))


def _grid(rows: list[_Row]) -> list[list[str]]:
    """Each row's cell texts by column; positions covered by a span from the left or above are empty."""
    covered: dict[int, int] = {}  # column -> rows below the current one that a rowspan still covers
    grid = []
    for row in rows:
        cells: list[str] = []
        for cell in row.cells:
            while covered.get(len(cells), 0) > 0:
                cells.append("")
            column = len(cells)
            cells.append(cell.text)
            cells.extend([""] * (cell.colspan - 1))
            for spanned in range(column, column + cell.colspan):
                if cell.rowspan > 1:
                    covered[spanned] = max(covered.get(spanned, 0), cell.rowspan)
        # one row of every span is used up (the spans just opened included: they counted this row)
        covered = {column: left - 1 for column, left in covered.items() if left > 1}
        grid.append(cells)
    return grid


def _clean(text: str) -> str:
    """Whitespace collapsed to single spaces; over-long runs without a space cut and marked."""
    return " ".join(word if len(word) <= MAX_WORD_CHARS else word[:MAX_WORD_CHARS] + _ELLIPSIS
                    for word in text.split())


def _span(value: str | None) -> int:
    try:
        return min(max(int(str(value).strip()), 1), MAX_SPAN)
    except (TypeError, ValueError):
        return 1


# Tags that separate words inside a cell; their text would otherwise run together.
_BREAKING_TAGS = {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}
# The tags that make the outermost table's structure; inside a nested table they only break words.
_STRUCTURE_TAGS = {"caption", "thead", "tbody", "tfoot", "tr", "td", "th"}


class _TableReader(HTMLParser):
    """Rows and cells of the outermost table(s); a table nested in a cell adds its text to that cell.

    Written for the HTML unstructured generates but tolerant of the usual omissions: a new ``<td>``
    closes an open one and a new ``<tr>`` an open row, as an HTML parser would. Text outside any
    cell or caption is ignored.
    """

    def __init__(self, pandas_escapes: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self._pandas_escapes = pandas_escapes
        self.rows: list[_Row] = []
        self.captions: list[str] = []
        self._depth = 0  # <table> nesting
        self._in_thead = False
        self._row: _Row | None = None
        self._cell: _Cell | None = None
        self._buffer: list[str] = []  # the open cell's or caption's text
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            if self._depth > 1:
                self._buffer.append(" ")
            return
        if not self._shapes_table(tag):
            return
        if tag == "caption":
            self._close_row()
            self._in_caption, self._buffer = True, []
        elif tag in ("thead", "tbody", "tfoot"):
            self._close_row()
            self._in_thead = tag == "thead"
        elif tag == "tr":
            self._close_row()
            self._row = _Row([], self._in_thead)
        else:  # td, th
            self._close_cell()
            if self._row is None:
                self._row = _Row([], self._in_thead)
            values = dict(attrs)
            self._cell = _Cell("", _span(values.get("colspan")), _span(values.get("rowspan")), tag == "th")
            self._buffer = []

    def _shapes_table(self, tag: str) -> bool:
        """Whether ``tag`` shapes the outer table's rows and cells. Any other tag inside the table (a
        nested table's included) only separates words: a space goes into the cell where it breaks a line."""
        if self._depth == 0:
            return False
        if self._depth > 1 or tag not in _STRUCTURE_TAGS:
            if tag in _BREAKING_TAGS:
                self._buffer.append(" ")
            return False
        return True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "table":  # <table/> holds nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            if self._depth == 1:
                self._close_row()
                self._in_thead = False
            elif self._depth > 1:
                self._buffer.append(" ")
            self._depth = max(self._depth - 1, 0)
            return
        if not self._shapes_table(tag):
            return
        if tag == "caption":
            self._close_caption()
        elif tag in ("td", "th"):
            self._close_cell()
        elif tag == "tr":
            self._close_row()
        elif tag == "thead":
            self._close_row()
            self._in_thead = False

    def handle_data(self, data: str) -> None:
        if self._in_caption or self._cell is not None:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._close_row()

    def _close_caption(self) -> None:
        if self._in_caption:
            self.captions.append(_clean("".join(self._buffer)))
            self._in_caption, self._buffer = False, []

    def _close_cell(self) -> None:
        self._close_caption()
        if self._cell is not None and self._row is not None:
            text = "".join(self._buffer)
            if self._pandas_escapes:
                for escape in _PANDAS_ESCAPES:
                    text = text.replace(escape, " ")
            self._cell.text = _clean(text)
            self._row.cells.append(self._cell)
        self._cell, self._buffer = None, []

    def _close_row(self) -> None:
        self._close_cell()
        if self._row is not None:
            self.rows.append(self._row)
        self._row = None
