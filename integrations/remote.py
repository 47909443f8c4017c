"""An integration's verirag behind a verirag API: every call is one request of :class:`api.client.Client`."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from api.client import Client
from api.client.types import Answer, CollectionSummary, DocumentSummary, RankedPassage, Verdict

PAGE = 1000  # documents per GET /v1/collections/{name} (the most the API gives at once)


class RemoteVerirag:
    def __init__(self, client: Client, default_collection: Optional[str] = None):
        self.client = client
        self._default_collection = default_collection

    @property
    def serves_documents(self) -> bool:
        return False

    @property
    def default_collection(self) -> Optional[str]:
        return self._default_collection  # None: the server's VERIRAG_DEFAULT_COLLECTION applies

    def search(self, question: str, *, collection: Optional[str] = None, top_k: Optional[int] = None,
               filters: Optional[dict] = None) -> list[RankedPassage]:
        return self.client.retrieve(question, collection=collection or self.default_collection, top_k=top_k,
                                    filters=filters).passages

    def ask(self, question: str, *, collection: Optional[str] = None, top_k: Optional[int] = None,
            filters: Optional[dict] = None, model: Optional[str] = None, verify: Optional[str] = None) -> Answer:
        return self.client.query(question, collection=collection or self.default_collection, top_k=top_k,
                                 filters=filters, model=model, verify=verify)

    def verify(self, answer: str, passages: Sequence[Any], *, question: Optional[str] = None,
               reasoning: Optional[str] = None, require_citations: bool = True) -> Verdict:
        return self.client.verify(answer, passages, question=question, reasoning=reasoning,
                                  require_citations=require_citations).verdict

    def collections(self) -> list[CollectionSummary]:
        return self.client.collections()

    def documents(self, collection: str) -> list[DocumentSummary]:
        documents: list[DocumentSummary] = []
        while True:
            page = self.client.collection(collection, offset=len(documents), limit=PAGE).document_list
            documents.extend(page)
            if len(page) < PAGE:
                return documents

    def document(self, collection: str, doc_id: str):
        raise NotImplementedError(
            "a verirag API serves no document text (only passages for a question); read documents from a "
            "verirag in this process, or from the collection's Qdrant server")

    def close(self) -> None:
        self.client.close()
