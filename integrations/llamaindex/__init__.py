"""verirag for LlamaIndex (extra ``verirag[llamaindex]``): a retriever, a query engine whose responses carry
the verdict, an evaluator and a verifying wrapper for any query engine, and what stock ``QdrantVectorStore``
needs to read a verirag collection. Each reaches verirag in this process or through a verirag API by URL."""

from integrations.llamaindex.nodes import passage_node, verify_passages
from integrations.llamaindex.query_engine import VeriragQueryEngine, checked_response
from integrations.llamaindex.retriever import VeriragRetriever
from integrations.llamaindex.verification import VerdictEvaluationResult, VerifyingQueryEngine, VeriragEvaluator

__all__ = [
    "VerdictEvaluationResult",
    "VeriragEvaluator",
    "VeriragQueryEngine",
    "VeriragRetriever",
    "VerifyingQueryEngine",
    "checked_response",
    "passage_node",
    "verify_passages",
]
