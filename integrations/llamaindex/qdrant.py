"""Stock LlamaIndex reading a verirag collection: ``QdrantVectorStore`` over qdrant-client.

What makes it work, without changing verirag's schema:

* the dense vector is the named vector ``dense`` (cosine): ``dense_vector_name="dense"``;
* the chunk's text is the payload key ``text`` (LlamaIndex's default ``text_key``);
* verirag writes no ``_node_content``, so QdrantVectorStore builds each node with its reader for collections
  written by others: the node id is the point id (UUIDv5 of doc_id and chunk index), the text is ``text``, and
  every other payload key is metadata — ``doc_id``, ``source``, ``title``, ``section_path``, ``pages``,
  ``char_start``, ``char_end``, ``chunk_index``, ``chunk_count``, ``meta`` (a corpus's own fields) …;
* queries must be embedded by the model the collection was built with: :class:`VeriragEmbedding` is verirag's
  own embedder (the packaged all-MiniLM-L6-v2 unless VERIRAG_EMBED_MODEL says otherwise);
* ``MetadataFilters`` name payload keys: ``doc_id``, ``source``, ``pages`` (a page number), ``meta.lang``.

It reads dense-only: verirag's BM25 vector, the fusion in Qdrant and neighbour expansion are verirag's retrieval
(:class:`integrations.llamaindex.VeriragRetriever`). It needs a collection on a Qdrant server (or qdrant-client's
local mode): the embedded engine's folders are not a format qdrant-client opens. Treat the store as read-only:
nodes LlamaIndex inserts lack what verirag's retrieval and incremental ingestion read; ingest with verirag.
"""

from __future__ import annotations

from typing import Any, List

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.chunk_record import TEXT
from rag.store.base import DENSE_VECTOR


def verirag_vector_store(client: Any, collection: str, **options: Any):
    """A stock ``QdrantVectorStore`` set up for a verirag collection (``client``: a qdrant_client.QdrantClient)."""
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    return QdrantVectorStore(collection_name=collection, client=client, dense_vector_name=DENSE_VECTOR,
                             text_key=TEXT, **options)


class VeriragEmbedding(BaseEmbedding):
    """verirag's dense embedder as a LlamaIndex embedding model: the query vectors a verirag collection's
    chunk vectors were made for. ``settings``: a rag.settings.Settings (default: VERIRAG_* and verirag.toml)."""

    _embedder: Any = PrivateAttr()

    def __init__(self, settings: Any = None, embedder: Any = None, **kwargs: Any):
        if embedder is None:
            from rag.embedding import embedder_for
            from rag.settings import Settings

            embedder = embedder_for(settings or Settings())
        super().__init__(model_name=str(getattr(embedder, "model_path", None) or "verirag"), **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "VeriragEmbedding"

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._embedder.embed_query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._embedder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        return [vector.tolist() for vector in self._embedder.embed(texts)]


