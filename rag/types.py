"""Core types every layer speaks. Frozen: a chunk or passage never changes after it is made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.chunk_header import chunk_header


@dataclass(frozen=True, slots=True)
class ChunkMetadata:
    source: str  # URI or path the document came from
    title: str
    section_path: tuple[str, ...]
    pages: tuple[int, ...]
    char_start: int  # span in the document's extracted text
    char_end: int
    chunk_index: int
    chunk_count: int
    content_hash: str  # sha256 of the chunk text
    doc_hash: str  # sha256 of the source bytes (plus the pipeline fingerprint)
    extra: dict[str, Any] = field(default_factory=dict)  # user metadata, filterable
    # The column names of the table this chunk's rows come from, when the chunk's text lacks them
    # (a table split over chunks): not part of the text, so char_start/char_end stay exact.
    table_header: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    id: str  # UUIDv5(doc_id, chunk_index): re-ingesting overwrites, never duplicates
    doc_id: str
    text: str
    metadata: ChunkMetadata

    @property
    def embedding_text(self) -> str:
        """What the embedder reads: the title gives a short chunk its context, a table's header
        line the meaning of its rows."""
        header = chunk_header(self.metadata.title, self.metadata.section_path)
        return "\n".join(part for part in (header, self.metadata.table_header, self.text) if part)


@dataclass(frozen=True, slots=True)
class SparseVector:
    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """A chunk ready for the store: the payload is what Qdrant keeps beside the vectors."""

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a stored document came from: its source's bytes and who wrote it when (rag.chunk_record
    stores it with every point). All None for documents ingested before it was recorded."""

    source_sha256: str | None = None  # of the source file's bytes (a JSONL record: its title and text)
    source_bytes: int | None = None
    ingested_at: str | None = None  # UTC, ISO 8601
    ingested_by: str | None = None  # "key:<API key id>" for uploads, "cli:<OS user>" otherwise


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What the store holds of one document: enough to plan an incremental ingest, and its provenance."""

    doc_id: str
    doc_hashes: frozenset[str]
    points: int
    chunk_count: int  # as recorded in the payload of its points
    source: str
    provenance: Provenance = Provenance()

    def is_complete(self, doc_hash: str) -> bool:
        return self.doc_hashes == {doc_hash} and self.points == self.chunk_count


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved (and possibly neighbour-expanded) span of one document, labelled [S#]."""

    label: str  # "S1", "S2", … in prompt order
    doc_id: str
    text: str
    source: str
    title: str
    section_path: tuple[str, ...]
    pages: tuple[int, ...]
    char_start: int
    char_end: int
    chunk_indexes: tuple[int, ...]
    scores: dict[str, float] = field(default_factory=dict)  # dense, sparse, fused, rerank

    @property
    def page(self) -> int | None:
        return self.pages[0] if self.pages else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape every command and endpoint prints a passage in."""
        return {
            "label": self.label,
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "section_path": list(self.section_path),
            "page": self.page,
            "pages": list(self.pages),
            "char_start": self.char_start,
            "char_end": self.char_end,
            "chunk_indexes": list(self.chunk_indexes),
            "scores": dict(self.scores),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cache_hit_tokens: int | None = None  # None: the provider does not report it
    cache_miss_tokens: int | None = None

    def __add__(self, other: "Usage") -> "Usage":
        """Two requests' usage together (a retry); unknown cache counts stay unknown only if both are."""

        def both(x: int | None, y: int | None) -> int | None:
            return None if x is None and y is None else (x or 0) + (y or 0)

        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.reasoning_tokens + other.reasoning_tokens,
                     both(self.cache_hit_tokens, other.cache_hit_tokens),
                     both(self.cache_miss_tokens, other.cache_miss_tokens))


@dataclass(frozen=True, slots=True)
class Generation:
    reasoning: str  # may be empty: "no trace" is never an error
    answer: str
    usage: Usage
    finish_reason: str | None
    model: str  # the profile that actually answered (a fallback may have stepped in)
