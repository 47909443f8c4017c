"""``VeriragRetriever``: a LlamaIndex retriever over a verirag collection — hybrid dense + BM25 retrieval fused
in Qdrant, neighbour expansion — whose nodes carry verirag's metadata (see integrations.llamaindex.nodes)."""

from __future__ import annotations

from typing import Any, List, Optional

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from integrations.backend import VeriragBackend, connect
from integrations.llamaindex.filters import Filters, verirag_filters
from integrations.llamaindex.nodes import passage_node


class VeriragRetriever(BaseRetriever):
    """Nodes from a verirag collection, best first.

    Where the collection lives: ``backend`` (from :func:`integrations.backend.connect`), else ``url`` and
    ``api_key`` of a verirag API, else this process with ``settings`` (default: VERIRAG_* and verirag.toml;
    the embedded engine, or the Qdrant server ``VERIRAG_QDRANT_URL`` names).

    >>> retriever = VeriragRetriever("handbook", top_k=4)
    >>> [(n.node.metadata["doc_id"], n.node.metadata["page"], n.score) for n in retriever.retrieve("…")]
    """

    def __init__(self, collection: Optional[str] = None, *, top_k: Optional[int] = None, filters: Filters = None,
                 backend: Optional[VeriragBackend] = None, url: Optional[str] = None,
                 api_key: Optional[str] = None, settings: Any = None,
                 callback_manager: Optional[CallbackManager] = None):
        super().__init__(callback_manager=callback_manager)
        self.collection = collection
        self.top_k = top_k
        self.filters = verirag_filters(filters)
        self.backend = backend or connect(url, api_key, settings=settings)

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        passages = self.backend.search(query_bundle.query_str, collection=self.collection, top_k=self.top_k,
                                       filters=self.filters)
        return [passage_node(passage, passage.score) for passage in passages]
