"""The stored chunk record: the payload a chunk's point carries beside its vectors, in one place.

Everything that knows the payload's shape is here: its key names, the writer (:func:`to_payload`,
which the ingest job calls), the reader (:func:`from_payload`, which everything that reads a hit or
a neighbour goes through), and the fields a collection indexes and lets filters name (the stores
create the indexes from these lists; ``deploy/cluster-collection.json`` and the compose file's
``QDRANT_PAYLOAD_INDEXES`` must match them, which ``tests/test_compose.py`` checks).

Besides what :func:`to_payload` writes, the ingest job stores the token counts neighbour expansion
reads (:data:`TOKEN_COUNT`, :data:`TOKENS_AFTER_PREVIOUS`), computed by
``rag.expansion.expansion_token_counts`` over a whole document's payloads, and the document's
provenance (:func:`provenance_payload`: its source's SHA-256 and size, when and by whom it was
ingested), which listings read back with :func:`provenance_from`.

Compatibility: the payload carries no version. A key added after collections were written is
optional: the token counts read as None when absent (expansion then counts the tokens itself), the
provenance reads as None in each of its fields, and ``table_header`` is written for the embedding
text's sake and never read back. A new key must be
added the same way. A change to what a document's points hold (other chunking, a key every point must
have) bumps ``ingest.plan.PIPELINE_VERSION``, part of every ``doc_hash``, so that the next ingest
rewrites every document; until it has, readers still meet the points written before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from rag.types import Chunk, Provenance

# -- payload keys ---------------------------------------------------------------------------------
DOC_ID = "doc_id"
TEXT = "text"  # exactly document.text[char_start:char_end]
SOURCE = "source"
TITLE = "title"
SECTION_PATH = "section_path"
PAGES = "pages"
CHAR_START = "char_start"
CHAR_END = "char_end"
CHUNK_INDEX = "chunk_index"
CHUNK_COUNT = "chunk_count"
CONTENT_HASH = "content_hash"
DOC_HASH = "doc_hash"
META = "meta"  # the user's metadata: filters name its keys without the prefix (rag.store.base.payload_key)
TABLE_HEADER = "table_header"
# Stored by the ingest job for neighbour expansion (rag.expansion.expansion_token_counts).
TOKEN_COUNT = "token_count"
TOKENS_AFTER_PREVIOUS = "tokens_after_previous"
# Stored by the ingest job with every point of a document (provenance_payload); listings read them.
SOURCE_SHA256 = "source_sha256"
SOURCE_BYTES = "source_bytes"
INGESTED_AT = "ingested_at"
INGESTED_BY = "ingested_by"
PROVENANCE_FIELDS = [SOURCE_SHA256, SOURCE_BYTES, INGESTED_AT, INGESTED_BY]

# -- what a collection indexes ----------------------------------------------------------------------
# Indexed when a collection is created; the stores index each user metadata key ("meta.KEY") as a
# keyword when a point first carries it.
KEYWORD_INDEXES = [DOC_ID, SOURCE, DOC_HASH]
INTEGER_INDEXES = [PAGES, CHUNK_INDEX]
# Fields of every stored chunk a filter may name (``page`` is the user's name for ``pages``).
CORE_FILTER_FIELDS = frozenset({DOC_ID, SOURCE, TITLE, DOC_HASH, CONTENT_HASH, CHUNK_INDEX, PAGES})


def to_payload(chunk: Chunk) -> dict[str, Any]:
    """The payload stored beside a chunk's vectors (the token counts are added by the ingest job)."""
    m = chunk.metadata
    return {
        DOC_ID: chunk.doc_id,
        TEXT: chunk.text,
        SOURCE: m.source,
        TITLE: m.title,
        SECTION_PATH: list(m.section_path),
        PAGES: list(m.pages),
        CHAR_START: m.char_start,
        CHAR_END: m.char_end,
        CHUNK_INDEX: m.chunk_index,
        CHUNK_COUNT: m.chunk_count,
        CONTENT_HASH: m.content_hash,
        DOC_HASH: m.doc_hash,
        META: dict(m.extra),
        TABLE_HEADER: m.table_header,  # embedded with the text (Chunk.embedding_text), not part of it
    }


def provenance_payload(provenance: Provenance) -> dict[str, Any]:
    """The provenance keys the ingest job adds to each payload of a document."""
    return {
        SOURCE_SHA256: provenance.source_sha256,
        SOURCE_BYTES: provenance.source_bytes,
        INGESTED_AT: provenance.ingested_at,
        INGESTED_BY: provenance.ingested_by,
    }


def provenance_from(payload: Mapping[str, Any]) -> Provenance:
    """The provenance a payload holds; each field None when absent (collections ingested before)."""
    size = payload.get(SOURCE_BYTES)

    def text(key: str) -> str | None:
        value = payload.get(key)
        return str(value) if value is not None else None

    return Provenance(
        source_sha256=text(SOURCE_SHA256),
        source_bytes=int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None,
        ingested_at=text(INGESTED_AT),
        ingested_by=text(INGESTED_BY),
    )


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """A stored chunk as the query side reads it back: what ranking, expansion and passages need."""

    doc_id: str
    index: int
    text: str
    start: int | None
    end: int | None
    pages: tuple[int, ...]
    section_path: tuple[str, ...]
    title: str
    source: str
    chunk_count: int | None
    doc_hash: str | None = None
    # Stored by the ingest job (rag.expansion.expansion_token_counts); None in collections written before.
    tokens: int | None = None
    tokens_after_previous: int | None = None

    @property
    def exact(self) -> bool:
        """The text is the document's text for [start, end): overlaps can be cut by offset."""
        return self.start is not None and self.end is not None and self.end - self.start == len(self.text)


def from_payload(payload: Mapping[str, Any]) -> ChunkRecord | None:
    """The record a payload holds; None when it is no verirag chunk (no ``doc_id`` or ``chunk_index``).

    Every other key is optional, so points written by any earlier version read: a missing span,
    count or token count is None, missing pages or section path are empty, a missing text, title or
    source is "".
    """
    try:
        doc_id = str(payload[DOC_ID])
        index = int(payload[CHUNK_INDEX])
    except (KeyError, TypeError, ValueError):
        return None  # not a verirag chunk: nothing to expand or merge

    def optional_int(key: str) -> int | None:
        value = payload.get(key)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    pages = payload.get(PAGES) or []
    return ChunkRecord(
        doc_id=doc_id,
        index=index,
        text=str(payload.get(TEXT, "")),
        start=optional_int(CHAR_START),
        end=optional_int(CHAR_END),
        pages=tuple(sorted({int(p) for p in pages if isinstance(p, int)})),
        section_path=tuple(payload.get(SECTION_PATH) or ()),
        title=str(payload.get(TITLE, "")),
        source=str(payload.get(SOURCE, "")),
        chunk_count=optional_int(CHUNK_COUNT),
        doc_hash=str(payload[DOC_HASH]) if payload.get(DOC_HASH) is not None else None,
        tokens=optional_int(TOKEN_COUNT),
        tokens_after_previous=optional_int(TOKENS_AFTER_PREVIOUS),
    )
