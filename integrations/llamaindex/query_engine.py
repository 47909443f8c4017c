"""``VeriragQueryEngine``: LlamaIndex queries answered by verirag — retrieve, generate, verify — so the
``Response`` is a checked one: the answer, its sources as ``source_nodes`` (labelled S1…Sn as the answer cites
them), and in ``metadata`` the verdict, the resolved citations, the model and its reasoning."""

from __future__ import annotations

from typing import Any, List, Optional

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle

from api.client.types import Answer
from integrations.backend import VeriragBackend, connect
from integrations.llamaindex.filters import Filters, verirag_filters
from integrations.llamaindex.nodes import passage_node


class VeriragQueryEngine(BaseQueryEngine):
    """``response.metadata["verdict"]`` is verirag's verdict: ``label`` (supported, partially_supported,
    unsupported, abstained), ``score`` (0–1), ``policy_action``, ``warnings`` and ``claims`` (each with its
    ``text``, ``status``, ``citations`` and ``evidence``). Where verirag lives: as for VeriragRetriever.

    >>> response = VeriragQueryEngine("handbook").query("At what speed does Unit 3 trip on overspeed?")
    >>> str(response), response.metadata["verdict"]["label"], response.source_nodes[0].node.metadata["source"]
    """

    def __init__(self, collection: Optional[str] = None, *, top_k: Optional[int] = None, filters: Filters = None,
                 model: Optional[str] = None, verify: Optional[str] = None,
                 backend: Optional[VeriragBackend] = None, url: Optional[str] = None,
                 api_key: Optional[str] = None, settings: Any = None,
                 callback_manager: Optional[CallbackManager] = None):
        super().__init__(callback_manager)
        self.collection = collection
        self.top_k = top_k
        self.filters = verirag_filters(filters)
        self.model = model  # a verirag model profile; None: the configured default
        self.verify_policy = verify  # accept, flag, retry or abstain; None: the configured policy
        self.backend = backend or connect(url, api_key, settings=settings)

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self.backend.ask(query_bundle.query_str, collection=self.collection, top_k=self.top_k,
                                  filters=self.filters, model=self.model, verify=self.verify_policy)
        return checked_response(answer)

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        import asyncio

        return await asyncio.to_thread(self._query, query_bundle)

    def retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        passages = self.backend.search(query_bundle.query_str, collection=self.collection, top_k=self.top_k,
                                       filters=self.filters)
        return [passage_node(passage, passage.score) for passage in passages]

    def _get_prompt_modules(self) -> dict:
        return {}  # verirag builds its own prompts; there are none to swap here


def checked_response(answer: Answer) -> Response:
    """A verirag answer as a LlamaIndex Response."""
    metadata = {
        "verdict": answer.verdict.model_dump() if answer.verdict is not None else None,
        "citations": [citation.model_dump() for citation in answer.citations],
        "unknown_citations": list(answer.unknown_citations),
        "reasoning": answer.reasoning,
        "model": answer.model,
        "collection": answer.collection,
        "request_id": answer.request_id,
        "replaced_answer": answer.replaced_answer,
    }
    return Response(response=answer.answer, source_nodes=[passage_node(p) for p in answer.passages],
                    metadata=metadata)
