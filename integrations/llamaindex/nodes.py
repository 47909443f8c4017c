"""verirag passages as LlamaIndex nodes, and any LlamaIndex nodes as passages the verifier can read."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from llama_index.core.schema import MetadataMode, NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode

from api.client.types import Passage
from integrations.passage_metadata import passage_metadata

# Kept on every node; the LLM and the embedder see only where a passage comes from, not verirag's bookkeeping.
BOOKKEEPING_KEYS = ["label", "char_start", "char_end", "chunk_indexes", "scores", "pages", "doc_id"]


def passage_node(passage: Passage, score: Optional[float] = None) -> NodeWithScore:
    """A node whose metadata carries verirag's: doc_id, source, title, section_path, page, pages, the character
    span in the document's text (also ``start_char_idx``/``end_char_idx``), chunk indexes, scores, [S#] label.
    The document is the node's SOURCE relation, so ``node.ref_doc_id`` is the doc_id."""
    metadata = passage_metadata(passage)
    if passage.label:
        metadata["label"] = passage.label
    node = TextNode(
        id_=node_id(passage),
        text=passage.text,
        metadata=metadata,
        start_char_idx=passage.char_start,
        end_char_idx=passage.char_end,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=passage.doc_id)},
        excluded_llm_metadata_keys=BOOKKEEPING_KEYS,
        excluded_embed_metadata_keys=BOOKKEEPING_KEYS,
    )
    if score is None:
        score = passage.scores.get("rerank", passage.scores.get("fused"))
    return NodeWithScore(node=node, score=score)


def node_id(passage: Passage) -> str:
    """Stable for the same span of the same document: ``doc_id#first-last`` chunk (``doc_id#3`` for one)."""
    indexes = passage.chunk_indexes
    if not indexes:
        return f"{passage.doc_id}#{passage.label}" if passage.label else passage.doc_id
    return f"{passage.doc_id}#{indexes[0]}" + (f"-{indexes[-1]}" if len(indexes) > 1 else "")


def verify_passages(nodes: Sequence[Any]) -> list[dict[str, Any]]:
    """Any LlamaIndex nodes (NodeWithScore or nodes) as verifier passages, labelled S1…Sn in order. The text is
    the node's content without metadata; doc_id, source, title and page come from verirag's metadata keys,
    else from the usual LlamaIndex ones (ref_doc_id, file_path, file_name, page_label)."""
    passages = []
    for position, item in enumerate(nodes, 1):
        node = getattr(item, "node", item)
        metadata = node.metadata or {}
        passage: dict[str, Any] = {"label": f"S{position}", "text": node.get_content(metadata_mode=MetadataMode.NONE)}
        doc_id = metadata.get("doc_id") or node.ref_doc_id
        source = metadata.get("source") or metadata.get("file_path") or metadata.get("file_name")
        title = metadata.get("title")
        page = _page(metadata.get("page", metadata.get("page_label")))
        for key, value in (("doc_id", doc_id), ("source", source), ("title", title), ("page", page)):
            if value is not None and value != "":
                passage[key] = value if key == "page" else str(value)
        passages.append(passage)
    return passages


def _page(value: Any) -> Optional[int]:
    try:
        page = int(value)
    except (TypeError, ValueError):
        return None  # page labels like "iv" are not page numbers
    return page if page >= 1 else None
