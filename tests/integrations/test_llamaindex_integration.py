"""integrations.llamaindex against the real LlamaIndex: the retriever's nodes, the checked query engine, and the
verifier added to a stock LlamaIndex pipeline (an index, its retriever and a response synthesizer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from integrations.llamaindex import VerifyingQueryEngine, VeriragEvaluator, VeriragQueryEngine, VeriragRetriever
from integrations.llamaindex.qdrant import VeriragEmbedding
from tests.api.helpers import COLLECTION, QUESTION

FACT = "Unit 3 (Kaplan, 6 MW) is rated at 250 rpm and trips on overspeed at 287.5 rpm."
RIGHT, WRONG = "Unit 3 trips on overspeed at 287.5 rpm.", "Unit 3 trips on overspeed at 312.5 rpm."
VERIRAG_KEYS = {"doc_id", "source", "title", "section_path", "page", "pages", "char_start", "char_end",
                "chunk_indexes", "scores"}


class FixedAnswerLLM(CustomLLM):
    """A LlamaIndex LLM that always gives the same answer: the stock pipeline's model, made predictable."""

    answer: str

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="fixed-answer")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.answer)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
        yield CompletionResponse(text=self.answer, delta=self.answer)


def test_the_retriever_returns_nodes_with_veriraags_metadata(local):
    nodes = VeriragRetriever(COLLECTION, top_k=4, backend=local).retrieve(QUESTION)
    assert 0 < len(nodes) <= 4 and all(isinstance(n, NodeWithScore) for n in nodes)
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    assert any("287.5" in n.node.get_content() for n in nodes)
    for hit in nodes:
        node, metadata = hit.node, hit.node.metadata
        assert VERIRAG_KEYS <= set(metadata)
        assert node.ref_doc_id == metadata["doc_id"] and metadata["source"].endswith(metadata["doc_id"])
        assert (node.start_char_idx, node.end_char_idx) == (metadata["char_start"], metadata["char_end"])
        assert node.node_id.startswith(metadata["doc_id"] + "#")
        # the model is shown where a passage comes from, not verirag's bookkeeping
        shown = node.get_content(metadata_mode="llm")
        assert metadata["title"] in shown and "chunk_indexes" not in shown


def test_the_retriever_takes_llamaindex_filters_it_can_apply(local):
    only = MetadataFilters(filters=[MetadataFilter(key="doc_id", value="release_notes.txt")])
    nodes = VeriragRetriever(COLLECTION, top_k=3, filters=only, backend=local).retrieve(QUESTION)
    assert nodes and {n.node.metadata["doc_id"] for n in nodes} == {"release_notes.txt"}
    either = MetadataFilters(filters=[MetadataFilter(key="doc_id", operator=FilterOperator.IN,
                                                     value=["release_notes.txt", "maintenance_log.csv"])])
    docs = {n.node.metadata["doc_id"] for n in VeriragRetriever(COLLECTION, filters=either, backend=local)
            .retrieve(QUESTION)}
    assert docs and docs <= {"release_notes.txt", "maintenance_log.csv"}
    with pytest.raises(ValueError, match="not supported"):
        VeriragRetriever(COLLECTION, backend=local, filters=MetadataFilters(filters=[
            MetadataFilter(key="page", operator=FilterOperator.GT, value=2)]))


def test_a_remote_retriever_by_url_returns_the_same_nodes(local, served):
    here = VeriragRetriever(COLLECTION, top_k=4, backend=local).retrieve(QUESTION)
    there = VeriragRetriever(COLLECTION, top_k=4, url=served.url, api_key=served.key).retrieve(QUESTION)
    assert [(n.node.node_id, n.node.get_content()) for n in here] == \
           [(n.node.node_id, n.node.get_content()) for n in there]


@pytest.mark.slow
def test_the_query_engine_response_carries_the_verdict(local, model):
    response = VeriragQueryEngine(COLLECTION, top_k=4, backend=local).query(QUESTION)
    assert isinstance(response, Response) and "287.5" in str(response)
    verdict = response.metadata["verdict"]
    assert verdict["label"] == "supported" and 0.8 <= verdict["score"] <= 1
    assert [c["status"] for c in verdict["claims"] if c["origin"] == "answer"] == ["supported"]
    labels = [n.node.metadata["label"] for n in response.source_nodes]
    assert labels == [f"S{i}" for i in range(1, len(labels) + 1)]
    [citation] = response.metadata["citations"]
    cited = response.source_nodes[labels.index(citation["label"])].node
    assert cited.metadata["doc_id"] == citation["doc_id"] and "287.5" in cited.get_content()
    assert response.metadata["model"] == "deepseek-v4-flash" and response.metadata["reasoning"]


@pytest.mark.slow
def test_the_query_engine_against_a_remote_verirag_flags_an_unsupported_answer(served, model):
    from tests.support.deepseek_server import Reply

    model.script(Reply(reasoning="S1 is about the units.", content="Unit 3 trips on overspeed at 312.5 rpm [S1]."))
    engine = VeriragQueryEngine(COLLECTION, top_k=4, url=served.url, api_key=served.key)
    response = asyncio.run(engine.aquery(QUESTION))
    assert response.metadata["verdict"]["label"] != "supported" and response.metadata["request_id"]
    assert response.metadata["verdict"]["warnings"]


def test_the_evaluator_checks_any_llamaindex_response_against_its_source_nodes(local):
    sources = [NodeWithScore(node=TextNode(text=FACT, metadata={"file_name": "runbook.md", "page_label": "2"}),
                             score=0.9),
               NodeWithScore(node=TextNode(text="Units 1 and 2 are Francis turbines."), score=0.5)]
    evaluator = VeriragEvaluator(backend=local)
    wrong = evaluator.evaluate_response(query=QUESTION, response=Response(response=WRONG, source_nodes=sources))
    right = evaluator.evaluate_response(query=QUESTION, response=Response(response=RIGHT, source_nodes=sources))
    assert (wrong.passing, right.passing) == (False, True)
    assert right.score > wrong.score and "312.5" in wrong.feedback
    [claim] = [c for c in wrong.verdict["claims"] if c["origin"] == "answer"]
    assert claim["status"] == "contradicted"
    assert (claim["evidence"]["source"], claim["evidence"]["page"]) == ("runbook.md", 2)
    plain = evaluator.evaluate(query=QUESTION, response=RIGHT, contexts=[FACT])
    assert plain.passing and plain.contexts == [FACT]
    assert evaluator.evaluate(query=QUESTION, response=RIGHT, contexts=[]).invalid_result


def test_a_stock_llamaindex_pipeline_gets_verdicts_without_moving_its_data(local, embedder):
    index = VectorStoreIndex.from_documents(
        [Document(text=FACT, metadata={"file_name": "runbook.md"}),
         Document(text="The spillway siren sounds ten minutes before a gate moves.", metadata={"file_name": "s.md"})],
        embed_model=VeriragEmbedding(embedder=embedder),
    )  # fmt: skip
    verdicts = {}
    for answer in (RIGHT, WRONG):
        stock = index.as_query_engine(llm=FixedAnswerLLM(answer=answer), similarity_top_k=2)
        response = VerifyingQueryEngine(stock, backend=local).query(QUESTION)
        assert str(response) == answer and response.source_nodes
        verdicts[answer] = response.metadata["verdict"]
    assert verdicts[RIGHT]["label"] == "supported" and verdicts[WRONG]["label"] == "unsupported"
