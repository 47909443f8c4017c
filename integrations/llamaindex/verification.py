"""verirag's verifier on answers made elsewhere: any LlamaIndex pipeline adds the check without moving its data.

* :class:`VeriragEvaluator` — a LlamaIndex evaluator: ``evaluate_response(query, response)`` checks the
  response's answer against its ``source_nodes``; ``passing`` when the verdict is supported.
* :class:`VerifyingQueryEngine` — wraps any query engine; each response comes back with
  ``metadata["verdict"]``.

Answers from other pipelines seldom cite ``[S1]``-style labels, so citations are not required by default: each
claim is checked against every source node (nodes are labelled S1…Sn in order, for answers that do cite).
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional, Sequence

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import RESPONSE_TYPE, Response
from llama_index.core.evaluation import BaseEvaluator, EvaluationResult
from llama_index.core.schema import QueryBundle

from api.client.types import Verdict
from integrations.backend import VeriragBackend, connect
from integrations.llamaindex.nodes import verify_passages

PASSING_LABELS = ("supported",)


class VerdictEvaluationResult(EvaluationResult):
    verdict: Optional[dict[str, Any]] = None  # verirag's whole verdict: label, score, claims with their status


class VeriragEvaluator(BaseEvaluator):
    def __init__(self, *, backend: Optional[VeriragBackend] = None, url: Optional[str] = None,
                 api_key: Optional[str] = None, settings: Any = None, require_citations: bool = False,
                 passing_labels: Sequence[str] = PASSING_LABELS):
        self.backend = backend or connect(url, api_key, settings=settings)
        self.require_citations = require_citations
        self.passing_labels = tuple(passing_labels)

    def _get_prompts(self) -> dict:
        return {}  # the verifier asks no model by prompt template (its LLM judge is verirag's, configured there)

    def _update_prompts(self, prompts: dict) -> None:
        pass

    def verdict(self, answer: str, sources: Sequence[Any], query: Optional[str] = None,
                reasoning: Optional[str] = None) -> Verdict:
        """The verdict of ``answer`` against ``sources``: nodes (NodeWithScore or nodes) or context strings."""
        if all(isinstance(source, str) for source in sources):
            passages = [{"label": f"S{i}", "text": text} for i, text in enumerate(sources, 1)]
        else:
            passages = verify_passages(sources)
        return self.backend.verify(answer, passages, question=query, reasoning=reasoning,
                                   require_citations=self.require_citations)

    def result(self, verdict: Verdict, query: Optional[str], answer: str,
               contexts: Sequence[str]) -> VerdictEvaluationResult:
        problems = list(verdict.warnings) or list(verdict.issues)
        return VerdictEvaluationResult(
            query=query, contexts=list(contexts), response=answer,
            passing=verdict.label in self.passing_labels, score=verdict.score,
            feedback="; ".join(problems) if problems else f"verdict: {verdict.label} (score {verdict.score:.2f})",
            verdict=verdict.model_dump(),
        )

    async def aevaluate(self, query: Optional[str] = None, response: Optional[str] = None,
                        contexts: Optional[Sequence[str]] = None, **kwargs: Any) -> EvaluationResult:
        if not response or not contexts:
            return EvaluationResult(query=query, response=response, contexts=contexts, invalid_result=True,
                                    invalid_reason="verirag needs the answer and at least one context")
        verdict = await asyncio.to_thread(self.verdict, response, list(contexts), query, kwargs.get("reasoning"))
        return self.result(verdict, query, response, contexts)

    async def aevaluate_response(self, query: Optional[str] = None, response: Optional[Response] = None,
                                 **kwargs: Any) -> EvaluationResult:
        """The response's source nodes are the passages, with their doc_id, source, title and page."""
        if response is None or not response.response or not response.source_nodes:
            return EvaluationResult(query=query, response=getattr(response, "response", None), invalid_result=True,
                                    invalid_reason="verirag needs the answer and its source nodes")
        verdict = await asyncio.to_thread(self.verdict, response.response, response.source_nodes, query,
                                          kwargs.get("reasoning"))
        contexts = [item["text"] for item in verify_passages(response.source_nodes)]
        return self.result(verdict, query, response.response, contexts)

    def evaluate_response(self, query: Optional[str] = None, response: Optional[Response] = None,
                          **kwargs: Any) -> EvaluationResult:
        from llama_index.core.async_utils import asyncio_run

        return asyncio_run(self.aevaluate_response(query=query, response=response, **kwargs))


class VerifyingQueryEngine(BaseQueryEngine):
    """``VerifyingQueryEngine(index.as_query_engine())``: the same answers, each checked by verirag against its
    own source nodes, the verdict in ``response.metadata["verdict"]`` (None when there was nothing to check)."""

    def __init__(self, query_engine: BaseQueryEngine, evaluator: Optional[VeriragEvaluator] = None, **options: Any):
        super().__init__(callback_manager=query_engine.callback_manager)
        self.query_engine = query_engine
        self.evaluator = evaluator or VeriragEvaluator(**options)

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        return self._checked(self.query_engine.query(query_bundle), query_bundle.query_str)

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        response = await self.query_engine.aquery(query_bundle)
        return await asyncio.to_thread(self._checked, response, query_bundle.query_str)

    def _checked(self, response: Any, query: str) -> Response:
        if hasattr(response, "get_response"):  # a streaming response: the whole answer is what gets checked
            response = response.get_response()
        verdict = None
        if response.response and response.source_nodes:
            verdict = self.evaluator.verdict(response.response, response.source_nodes, query).model_dump()
        response.metadata = {**(response.metadata or {}), "verdict": verdict}
        return response

    def _get_prompt_modules(self) -> dict:
        return {"query_engine": self.query_engine}
