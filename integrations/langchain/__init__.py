"""verirag for LangChain (extra ``verirag[langchain]``): a retriever, a runnable that answers with its verdict,
and one that verifies another chain's answer. Each reaches verirag in this process or through a verirag API."""

from integrations.langchain.documents import passage_document, verify_passages
from integrations.langchain.retriever import VeriragRetriever
from integrations.langchain.runnables import VeriragAnswer, VeriragVerifier

__all__ = ["VeriragAnswer", "VeriragRetriever", "VeriragVerifier", "passage_document", "verify_passages"]
