"""The stored chunk record (rag.chunk_record): the payload written for a chunk reads back as the same
chunk, payloads of older collections read with the same defaults, the indexed fields are fields of
the payload, and one header (rag.chunk_header) is what the embedder, the chunker and the cross-encoder
see above a chunk."""

from __future__ import annotations

import json

from rag.chunk_header import chunk_header
from rag.chunk_record import (
    CORE_FILTER_FIELDS,
    INTEGER_INDEXES,
    KEYWORD_INDEXES,
    TABLE_HEADER,
    TOKEN_COUNT,
    TOKENS_AFTER_PREVIOUS,
    ChunkRecord,
    from_payload,
    to_payload,
)
from rag.ids import chunk_point_id, sha256_hex
from rag.store.base import STATE_FIELDS
from rag.store.edge import EdgeStore
from rag.types import Chunk, ChunkMetadata, Passage, SparseVector, StoredPoint

TEXT = "Close the inlet valve before draining the housing."


def make_chunk(**changes) -> Chunk:
    metadata = dict(
        source="file:///docs/pump.md", title="Pump manual", section_path=("Maintenance", "Frost"), pages=(2, 3),
        char_start=120, char_end=120 + len(TEXT), chunk_index=4, chunk_count=9, content_hash=sha256_hex(TEXT),
        doc_hash="h" * 64, extra={"lang": "en", "draft": False}, table_header=None,
    )
    metadata.update(changes)
    return Chunk(chunk_point_id("pump.md", metadata["chunk_index"]), "pump.md", TEXT, ChunkMetadata(**metadata))


# -- the payload --------------------------------------------------------------------------------
def test_the_payload_keeps_the_stored_format():
    """Collections already written hold exactly these keys: the format must not drift."""
    chunk = make_chunk(table_header="Part | Interval")
    assert to_payload(chunk) == {
        "doc_id": "pump.md",
        "text": TEXT,
        "source": "file:///docs/pump.md",
        "title": "Pump manual",
        "section_path": ["Maintenance", "Frost"],
        "pages": [2, 3],
        "char_start": 120,
        "char_end": 120 + len(TEXT),
        "chunk_index": 4,
        "chunk_count": 9,
        "content_hash": sha256_hex(TEXT),
        "doc_hash": "h" * 64,
        "meta": {"lang": "en", "draft": False},
        "table_header": "Part | Interval",
    }


def test_a_chunk_round_trips_through_its_payload(tmp_path):
    chunk = make_chunk()
    expected = ChunkRecord(
        doc_id="pump.md", index=4, text=TEXT, start=120, end=120 + len(TEXT), pages=(2, 3),
        section_path=("Maintenance", "Frost"), title="Pump manual", source="file:///docs/pump.md", chunk_count=9,
        doc_hash="h" * 64, tokens=12, tokens_after_previous=7,
    )
    payload = {**to_payload(chunk), TOKEN_COUNT: 12, TOKENS_AFTER_PREVIOUS: 7}  # as the ingest job stores it
    assert from_payload(payload) == expected
    assert from_payload(json.loads(json.dumps(payload))) == expected  # lists for tuples, as stored
    assert expected.exact

    # And as a store keeps it (user metadata booleans become strings there).
    with EdgeStore(tmp_path, "records", dimension=2) as store:
        store.upsert([StoredPoint(chunk.id, [1.0, 0.0], SparseVector((1,), (1.0,)), payload)])
        (stored,) = store.chunks_of("pump.md", [4])
    assert from_payload(stored.payload) == expected


def test_a_payload_from_an_older_collection_reads_with_the_same_defaults():
    # Written before the token counts and the table header existed.
    older = {key: value for key, value in to_payload(make_chunk()).items() if key != TABLE_HEADER}
    record = from_payload(older)
    assert (record.tokens, record.tokens_after_previous) == (None, None)
    assert record == from_payload(to_payload(make_chunk()))

    # Only what identifies a chunk: everything else takes its default.
    assert from_payload({"doc_id": "d", "chunk_index": 0}) == ChunkRecord(
        doc_id="d", index=0, text="", start=None, end=None, pages=(), section_path=(), title="", source="",
        chunk_count=None, doc_hash=None, tokens=None, tokens_after_previous=None,
    )
    assert not from_payload({"doc_id": "d", "chunk_index": 0, "text": "x"}).exact  # no span: not cut by offset


def test_what_is_no_count_reads_as_none_and_what_is_no_chunk_as_nothing():
    odd = from_payload({"doc_id": 7, "chunk_index": "3", TOKEN_COUNT: True, "char_start": "0", "pages": [1, "2", 1]})
    assert (odd.doc_id, odd.index, odd.tokens, odd.start, odd.pages) == ("7", 3, None, None, (1,))
    assert from_payload({"text": "no doc id"}) is None
    assert from_payload({"doc_id": "d", "chunk_index": "first"}) is None


def test_indexed_and_filterable_fields_are_fields_of_the_payload():
    written = set(to_payload(make_chunk()))
    assert set(KEYWORD_INDEXES) | set(INTEGER_INDEXES) <= written
    assert CORE_FILTER_FIELDS <= written
    assert set(STATE_FIELDS) <= written


# -- the header ---------------------------------------------------------------------------------
def test_one_header_for_the_embedder_the_chunker_and_the_cross_encoder():
    import ingest.chunking
    import rag.rerank
    import rag.types

    # One function: the chunker's token budget holds for what the models read.
    assert ingest.chunking.chunk_header is rag.rerank.chunk_header is rag.types.chunk_header is chunk_header

    for title, section_path, header in [
        ("Pump manual", ("Maintenance", "Frost"), "Pump manual / Maintenance / Frost"),
        ("Pump manual", (), "Pump manual"),
        ("", ("Maintenance",), "Maintenance"),
        ("", (), ""),
    ]:
        assert chunk_header(title, section_path) == header
        chunk = make_chunk(title=title, section_path=section_path)
        passage = Passage("", "pump.md", TEXT, "file:///docs/pump.md", title, section_path, (2,), 0, len(TEXT), (4,))
        read = f"{header}\n{TEXT}" if header else TEXT
        assert chunk.embedding_text == read
        assert rag.rerank.pair_text(passage) == read
