"""Chunks are sized in the embedder's tokens, never cross a section, and keep exact spans."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ingest.chunking import ChunkBudget, Chunker
from ingest.parse import Block, ParsedDocument, assemble, parse_record

WORDS = st.sampled_from(
    "valve pressure turbine the of 42 kPa reservoir Ærøskøbing µs supercalifragilistic-expialidocious "
    "déjà-vu 3.14159 2025-03-14 (see §4.2) — naïve coöperation".split()
)
PARAGRAPH = st.lists(WORDS, min_size=1, max_size=180).map(lambda ws: " ".join(ws) + ".")


def document_from(sections: list[tuple[str, list[str]]]) -> ParsedDocument:
    class Element:
        def __init__(self, category, text, page):
            self.category, self.text = category, text
            self.metadata = type("M", (), {"page_number": page, "category_depth": 0})()

    elements = []
    for number, (title, paragraphs) in enumerate(sections, start=1):
        elements.append(Element("Title", title, number))
        elements += [Element("NarrativeText", p, number) for p in paragraphs]
    return assemble(elements, fallback_title="doc")


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sections=st.lists(st.tuples(st.sampled_from(["Intro", "Pumps", "Valves"]), st.lists(PARAGRAPH, min_size=1, max_size=6)), min_size=1, max_size=3))
def test_chunks_fit_the_model_and_keep_exact_spans(embedder, sections):
    document = document_from(sections)
    chunker = Chunker(embedder.count_tokens, ChunkBudget(embedder.max_tokens, 256, 24))
    chunks = chunker.chunk(document, "doc", "doc.txt", "hash")
    assert chunks
    for chunk in chunks:
        assert embedder.count_tokens(chunk.embedding_text) <= embedder.max_tokens
        assert document.text[chunk.metadata.char_start : chunk.metadata.char_end] == chunk.text
        blocks = [b for b in document.blocks if b.start < chunk.metadata.char_end and b.end > chunk.metadata.char_start]
        assert len({b.section_path for b in blocks}) == 1, "a chunk never straddles two sections"
        assert set(chunk.metadata.pages) == {b.page for b in blocks}
    assert [c.metadata.chunk_index for c in chunks] == list(range(len(chunks)))
    assert {c.metadata.chunk_count for c in chunks} == {len(chunks)}


def test_smaller_budget_makes_more_chunks(embedder):
    document = parse_record("Title", " ".join(f"Sentence number {i} about the pump." for i in range(200)))
    big = Chunker(embedder.count_tokens, ChunkBudget(embedder.max_tokens, 256, 0)).chunk(document, "d", "s", "h")
    small = Chunker(embedder.count_tokens, ChunkBudget(embedder.max_tokens, 64, 0)).chunk(document, "d", "s", "h")
    assert len(small) > 2 * len(big)
    assert all(embedder.count_tokens(c.embedding_text) <= 64 for c in small)


def test_ids_are_stable_and_distinct(embedder):
    document = parse_record("T", " ".join(f"Line {i} of the manual." for i in range(300)))
    chunker = Chunker(embedder.count_tokens, ChunkBudget(embedder.max_tokens, 128, 16))
    first = chunker.chunk(document, "manual.txt", "s", "h")
    again = chunker.chunk(document, "manual.txt", "s", "h")
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    other = chunker.chunk(document, "other.txt", "s", "h")
    assert not {c.id for c in first} & {c.id for c in other}


def test_block_offsets_match_the_text():
    document = document_from([("A", ["one two", "three"]), ("B", ["four"])])
    for block in document.blocks:
        assert isinstance(block, Block)
        assert document.text[block.start : block.end] == block.text
