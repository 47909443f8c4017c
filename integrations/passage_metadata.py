"""The metadata a passage carries into another library's document type (LlamaIndex nodes, LangChain
Documents): one definition, so both integrations expose the same keys."""

from __future__ import annotations

from typing import Any

from api.client.types import Passage


def passage_metadata(passage: Passage) -> dict[str, Any]:
    """doc_id, source, title, section_path, page, pages, the character span in the document's text, chunk
    indexes and scores."""
    return {
        "doc_id": passage.doc_id,
        "source": passage.source,
        "title": passage.title,
        "section_path": list(passage.section_path),
        "page": passage.page,
        "pages": list(passage.pages),
        "char_start": passage.char_start,
        "char_end": passage.char_end,
        "chunk_indexes": list(passage.chunk_indexes),
        "scores": dict(passage.scores),
    }
