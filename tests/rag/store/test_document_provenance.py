"""A document's provenance read back from its points (rag.chunk_record, rag.store.base.aggregate_states):
the newest ingest's when a rewrite is half done, all None for collections ingested before it was stored."""

from __future__ import annotations

from rag.chunk_record import provenance_from, provenance_payload
from rag.store.base import aggregate_states
from rag.types import Provenance

OLD = Provenance("a" * 64, 10, "2026-01-01T00:00:00Z", "cli:alice")
NEW = Provenance("b" * 64, 12, "2026-02-01T00:00:00Z", "key:0123456789ab")


def point(doc_id: str, index: int, provenance: Provenance | None) -> dict:
    payload = {"doc_id": doc_id, "chunk_index": index, "doc_hash": "h", "chunk_count": 2, "source": f"/d/{doc_id}"}
    return {**payload, **provenance_payload(provenance)} if provenance is not None else payload


def test_the_provenance_written_is_the_provenance_read():
    assert provenance_from(provenance_payload(NEW)) == NEW


def test_a_half_rewritten_document_shows_its_newest_ingest():
    states = aggregate_states([point("d", 0, NEW), point("d", 1, OLD), point("e", 0, OLD)])
    assert states["d"].provenance == NEW and states["e"].provenance == OLD


def test_documents_ingested_before_provenance_was_stored_read_as_none():
    states = aggregate_states([point("legacy", 0, None), point("legacy", 1, None)])
    assert states["legacy"].provenance == Provenance(None, None, None, None)
    assert provenance_from({"source_bytes": True, "ingested_at": None}).source_bytes is None
