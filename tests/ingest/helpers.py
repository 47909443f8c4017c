"""Reading back what an ingest run left in the store."""

from __future__ import annotations

from rag.settings import Settings
from rag.store import open_store


def stored_points(settings: Settings, collection: str) -> list[dict]:
    """Every point's payload plus its id, read through the store's own scroll."""
    store = open_store(settings, collection)
    try:
        return [dict(payload) for payload in store._scroll_payloads(_ALL_FIELDS)]  # noqa: SLF001
    finally:
        store.close()


_ALL_FIELDS = [
    "doc_id", "text", "source", "title", "section_path", "pages", "char_start", "char_end",
    "chunk_index", "chunk_count", "content_hash", "doc_hash", "meta", "token_count", "tokens_after_previous",
]


def snapshot(settings: Settings, collection: str) -> set[tuple]:
    """The store's content as a comparable set: one tuple per point."""
    return {
        (p["doc_id"], p["chunk_index"], p["chunk_count"], p["doc_hash"], p["content_hash"])
        for p in stored_points(settings, collection)
    }


def assert_consistent(settings: Settings, collection: str) -> None:
    """No duplicates, no orphans: each document has exactly chunk_count points, one hash."""
    points = stored_points(settings, collection)
    by_doc: dict[str, list[dict]] = {}
    for point in points:
        by_doc.setdefault(point["doc_id"], []).append(point)
    for doc_id, chunks in by_doc.items():
        hashes = {c["doc_hash"] for c in chunks}
        assert len(hashes) == 1, f"{doc_id} has points of several versions: {hashes}"
        indexes = sorted(c["chunk_index"] for c in chunks)
        assert indexes == list(range(chunks[0]["chunk_count"])), f"{doc_id}: chunk indexes {indexes}"
