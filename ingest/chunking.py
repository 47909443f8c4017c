"""Section-aware chunks sized in the embedder's own tokens.

Sections (runs of blocks under the same heading path) are split separately, so a chunk never
straddles two sections. LlamaIndex's ``SentenceSplitter`` does the splitting (sentence and
paragraph boundaries first), counting tokens with the embedding model's tokenizer; the budget
leaves room for the title header and the special tokens the embedder adds, so no chunk is ever
truncated by the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Callable, Sequence

from llama_index.core.node_parser import SentenceSplitter

from rag.ids import chunk_point_id, sha256_hex
from rag.types import Chunk, ChunkMetadata
from ingest.parse import BLOCK_SEPARATOR, Block, ParsedDocument

# [CLS] and [SEP] for BERT-style encoders; a safe margin for others.
SPECIAL_TOKENS = 2
HEADER_TOKEN_CAP = 48
MIN_BODY_TOKENS = 32


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
        pieces: list[tuple[str, int, int, tuple[str, ...], tuple[int, ...]]] = []
        for section_path, run in groupby(document.blocks, key=lambda block: block.section_path):
            blocks = list(run)
            pieces.extend(self._split_section(document, section_path, blocks))
        count = len(pieces)
        chunks = []
        for index, (text, start, end, section_path, pages) in enumerate(pieces):
            metadata = ChunkMetadata(
                source=source,
                title=document.title,
                section_path=section_path,
                pages=pages,
                char_start=start,
                char_end=end,
                chunk_index=index,
                chunk_count=count,
                content_hash=sha256_hex(text),
                doc_hash=doc_hash,
                extra=dict(extra or {}),
            )
            chunks.append(Chunk(chunk_point_id(doc_id, index), doc_id, text, metadata))
        return chunks

    def _header(self, document: ParsedDocument, section_path: tuple[str, ...]) -> str:
        return " / ".join(part for part in (document.title, *section_path) if part)

    def _split_section(
        self, document: ParsedDocument, section_path: tuple[str, ...], blocks: Sequence[Block]
    ) -> list[tuple[str, int, int, tuple[str, ...], tuple[int, ...]]]:
        start, end = blocks[0].start, blocks[-1].end
        section_text = document.text[start:end]
        header = self._header(document, section_path)
        header_tokens = min(self.count_tokens(header) - SPECIAL_TOKENS, HEADER_TOKEN_CAP) if header else 0
        body_tokens = max(self.budget.total - SPECIAL_TOKENS - header_tokens - 1, MIN_BODY_TOKENS)
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
            pieces.append((text, chunk_start, chunk_end, section_path, pages))
        return pieces
