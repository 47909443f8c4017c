"""verirag passages as LangChain Documents, and any Documents as passages the verifier can read."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from langchain_core.documents import Document

from api.client.types import Passage
from integrations.passage_metadata import passage_metadata


def passage_document(passage: Passage, score: Optional[float] = None) -> Document:
    """A Document whose metadata carries verirag's: doc_id, source, title, section_path, page, pages, the
    character span in the document's text, chunk indexes, scores (``score``: the one the order follows),
    and the [S#] label when the passage was given to a model."""
    metadata: dict[str, Any] = passage_metadata(passage)
    if score is not None:
        metadata["score"] = score
    if passage.label:
        metadata["label"] = passage.label
    indexes = passage.chunk_indexes
    span = f"#{indexes[0]}" + (f"-{indexes[-1]}" if len(indexes) > 1 else "") if indexes else ""
    return Document(page_content=passage.text, metadata=metadata, id=f"{passage.doc_id}{span}")


def verify_passages(documents: Sequence[Any]) -> list[dict[str, Any]]:
    """Documents (or plain strings) as verifier passages, labelled S1…Sn in order; doc_id, source, title and
    page come from verirag's metadata keys, else from the usual LangChain loaders' (``source``, ``page``)."""
    passages = []
    for position, document in enumerate(documents, 1):
        if isinstance(document, str):
            passages.append({"label": f"S{position}", "text": document})
            continue
        metadata = document.metadata or {}
        passage: dict[str, Any] = {"label": f"S{position}", "text": document.page_content}
        for key in ("doc_id", "source", "title"):
            if metadata.get(key) not in (None, ""):
                passage[key] = str(metadata[key])
        if "doc_id" not in passage and document.id:
            passage["doc_id"] = str(document.id)
        page = _page(metadata.get("page"))
        if page is not None:
            passage["page"] = page
        passages.append(passage)
    return passages


def _page(value: Any) -> Optional[int]:
    # PyPDFLoader numbers pages from 0; verirag's page numbers start at 1, and a 0 would be refused.
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value >= 1 else None
