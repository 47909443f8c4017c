"""Section-aware chunks sized in the embedder's own tokens.

Sections (runs of blocks under the same heading path) are split separately, so a chunk never
straddles two sections. LlamaIndex's ``SentenceSplitter`` does the splitting (sentence and
paragraph boundaries first), counting tokens with the embedding model's tokenizer; the budget
leaves room for the title header (``rag.chunk_header``, the one the embedder reads) and the special
tokens the embedder adds, so no chunk is ever truncated by the model.

Tables (blocks from :mod:`ingest.tables`: one row a line) are split by rows, never inside a row
unless that row alone exceeds the budget (the sentence splitter then cuts it). A section that fits
in one chunk stays one chunk, tables and prose together; in a longer section each table is chunked
on its own and the prose between tables as its own runs, so a table never shares a chunk with the
text around it. Table chunks do not overlap: rows are whole, and the header gives each its context.

Every chunk of a table that starts after the table's header lines carries that header in
``ChunkMetadata.table_header``, not in its text: the text stays exactly
``document.text[char_start:char_end]``, which quotes, citations and the merging of neighbours rely
on, while ``Chunk.embedding_text`` puts the header line under the title, so the embedder and the
sparse index read the column names with the rows. The budget of such a chunk leaves room for the
header; a header longer than ``1 / TABLE_HEADER_SHARE`` of the body budget is cut (``…``) so that
rows still fit, and a header that cannot be cut to fit is not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Callable, Sequence

from llama_index.core.node_parser import SentenceSplitter

from rag.chunk_header import chunk_header
from rag.ids import chunk_point_id, sha256_hex
from rag.types import Chunk, ChunkMetadata
from ingest.parse import BLOCK_SEPARATOR, Block, ParsedDocument

# [CLS] and [SEP] for BERT-style encoders; a safe margin for others.
SPECIAL_TOKENS = 2
HEADER_TOKEN_CAP = 48
MIN_BODY_TOKENS = 32
# A repeated table header takes at most this fraction (1/n) of a chunk's body budget.
TABLE_HEADER_SHARE = 3
_CUT_MARK = " …"


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str  # == document.text[start:end]
    start: int
    end: int
    section_path: tuple[str, ...]
    pages: tuple[int, ...]
    table_header: str | None = None  # a table's header, for a chunk of its rows that lacks it


@dataclass(frozen=True, slots=True)
class ChunkBudget:
    max_model_tokens: int  # what the embedder reads at most
    chunk_tokens: int  # the configured upper bound, header included
    overlap_tokens: int

    @property
    def total(self) -> int:
        return min(self.chunk_tokens, self.max_model_tokens)


class Chunker:
    def __init__(self, count_tokens: Callable[[str], int], budget: ChunkBudget):
        self.count_tokens = count_tokens
        self.budget = budget
        self._splitters: dict[int, SentenceSplitter] = {}

    def _tokens(self, text: str) -> list:
        # SentenceSplitter wants a tokenizer returning a sequence; only its length matters.
        return [0] * self.count_tokens(text)

    def _splitter(self, body_tokens: int) -> SentenceSplitter:
        splitter = self._splitters.get(body_tokens)
        if splitter is None:
            overlap = min(self.budget.overlap_tokens, body_tokens // 4)
            splitter = SentenceSplitter(
                chunk_size=body_tokens,
                chunk_overlap=overlap,
                tokenizer=self._tokens,
                paragraph_separator=BLOCK_SEPARATOR,
            )
            self._splitters[body_tokens] = splitter
        return splitter

    def chunk(
        self,
        document: ParsedDocument,
        doc_id: str,
        source: str,
        doc_hash: str,
        extra: dict | None = None,
    ) -> list[Chunk]:
        pieces: list[_Piece] = []
        for section_path, run in groupby(document.blocks, key=lambda block: block.section_path):
            blocks = list(run)
            pieces.extend(self._split_section(document, section_path, blocks))
        count = len(pieces)
        chunks = []
        for index, piece in enumerate(pieces):
            metadata = ChunkMetadata(
                source=source,
                title=document.title,
                section_path=piece.section_path,
                pages=piece.pages,
                char_start=piece.start,
                char_end=piece.end,
                chunk_index=index,
                chunk_count=count,
                content_hash=sha256_hex(piece.text),
                doc_hash=doc_hash,
                extra=dict(extra or {}),
                table_header=piece.table_header,
            )
            chunks.append(Chunk(chunk_point_id(doc_id, index), doc_id, piece.text, metadata))
        return chunks

    def _split_section(
        self, document: ParsedDocument, section_path: tuple[str, ...], blocks: Sequence[Block]
    ) -> list[_Piece]:
        header = chunk_header(document.title, section_path)
        header_tokens = min(self.count_tokens(header) - SPECIAL_TOKENS, HEADER_TOKEN_CAP) if header else 0
        body_tokens = max(self.budget.total - SPECIAL_TOKENS - header_tokens - 1, MIN_BODY_TOKENS)
        if not any(block.is_table for block in blocks) or (
            self.count_tokens(document.text[blocks[0].start : blocks[-1].end]) <= body_tokens
        ):
            return self._split_text(document, section_path, blocks, body_tokens)
        pieces: list[_Piece] = []
        for is_table, run in groupby(blocks, key=lambda block: block.is_table):
            if is_table:
                for table in run:
                    pieces.extend(self._split_table(document, section_path, table, body_tokens))
            else:
                pieces.extend(self._split_text(document, section_path, list(run), body_tokens))
        return pieces

    def _split_text(
        self, document: ParsedDocument, section_path: tuple[str, ...], blocks: Sequence[Block], body_tokens: int,
        table_header: str | None = None,
    ) -> list[_Piece]:
        """The sentence splitter's chunks of the text from the first block to the last."""
        start, end = blocks[0].start, blocks[-1].end
        section_text = document.text[start:end]
        pieces = []
        cursor = 0
        for text in self._splitter(body_tokens).split_text(section_text):
            position = section_text.find(text, cursor)
            if position < 0:  # the splitter normalised whitespace: fall back to a wider search
                position = section_text.find(text)
            if position < 0:
                continue  # cannot happen for SentenceSplitter output; never invent a span
            cursor = position + 1
            chunk_start = start + position
            chunk_end = chunk_start + len(text)
            pages = tuple(
                sorted({b.page for b in blocks if b.page is not None and b.start < chunk_end and b.end > chunk_start})
            )
            pieces.append(_Piece(text, chunk_start, chunk_end, section_path, pages, table_header))
        return pieces

    def _split_table(
        self, document: ParsedDocument, section_path: tuple[str, ...], table: Block, body_tokens: int
    ) -> list[_Piece]:
        """Whole rows packed into chunks up to the budget; chunks after the header carry it."""
        header = table.table_header if table.table_header and table.text.startswith(table.table_header) else None
        header_end = table.start + len(header) if header else table.start
        repeated = self._fit_table_header(header, body_tokens // TABLE_HEADER_SHARE) if header else None
        rows_budget = body_tokens - (self.count_tokens(repeated) - SPECIAL_TOKENS + 1) if repeated else body_tokens
        rows = _row_spans(document.text, table.start, table.end)
        row_tokens = [self.count_tokens(document.text[s:e]) - SPECIAL_TOKENS for s, e in rows]
        pages = (table.page,) if table.page is not None else ()
        pieces: list[_Piece] = []
        first = 0
        while first < len(rows):
            after_header = repeated is not None and rows[first][0] >= header_end
            limit = rows_budget if after_header else body_tokens
            last, used = first, SPECIAL_TOKENS
            while last < len(rows) and used + row_tokens[last] <= limit:
                used += row_tokens[last]
                last += 1
            # the sum of the rows' counts is an estimate; the joined rows are what the model reads
            while last > first + 1 and self.count_tokens(document.text[rows[first][0] : rows[last - 1][1]]) > limit:
                last -= 1
            if last == first:  # one row longer than a chunk: the only place a row is cut
                row = Block(document.text[rows[first][0] : rows[first][1]], *rows[first], table.page, section_path)
                pieces.extend(
                    self._split_text(document, section_path, [row], limit, repeated if after_header else None)
                )
                first += 1
                continue
            start, end = rows[first][0], rows[last - 1][1]
            pieces.append(
                _Piece(document.text[start:end], start, end, section_path, pages, repeated if after_header else None)
            )
            first = last
        return pieces

    def _fit_table_header(self, header: str, cap_tokens: int) -> str | None:
        """``header``, or its longest prefix ending at a word that fits ``cap_tokens`` with ``…``
        appended; None when not even the first word fits."""
        if self.count_tokens(header) - SPECIAL_TOKENS <= cap_tokens:
            return header
        cuts = [index for index, char in enumerate(header) if char.isspace() and index > 0]
        best, low, high = None, 0, len(cuts) - 1
        while low <= high:  # binary search: a longer prefix never has fewer tokens
            middle = (low + high) // 2
            candidate = header[: cuts[middle]].rstrip() + _CUT_MARK
            if self.count_tokens(candidate) - SPECIAL_TOKENS <= cap_tokens:
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        return best


def _row_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The [start, end) of each non-blank line of ``text[start:end]``, surrounding blanks left out."""
    spans = []
    position = start
    for line in text[start:end].split("\n"):
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            spans.append((position + lead, position + lead + len(stripped)))
        position += len(line) + 1
    return spans
