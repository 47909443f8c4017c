"""``VeriragRetriever``: a LangChain retriever over a verirag collection (hybrid retrieval, neighbour expansion)."""

from __future__ import annotations

from typing import Any, Optional

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import model_validator

from integrations.backend import connect
from integrations.langchain.documents import passage_document


class VeriragRetriever(BaseRetriever):
    """Documents from a verirag collection, best first, each with verirag's metadata.

    Where the collection lives: ``backend`` (from integrations.backend.connect), else ``url`` and ``api_key`` of
    a verirag API, else this process with ``settings`` (default: VERIRAG_* and verirag.toml).

    >>> retriever = VeriragRetriever(collection="handbook", top_k=4)
    >>> [d.metadata["doc_id"] for d in retriever.invoke("At what speed does Unit 3 trip?")]
    """

    collection: Optional[str] = None
    top_k: Optional[int] = None
    filters: Optional[dict[str, Any]] = None  # all must hold: {"doc_id": "a.md", "page": 3, "lang": ["en", "de"]}
    backend: Any = None

    @model_validator(mode="before")
    @classmethod
    def _connect(cls, values: Any) -> Any:
        return with_backend(values)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        passages = self.backend.search(query, collection=self.collection, top_k=self.top_k, filters=self.filters)
        return [passage_document(passage, passage.score) for passage in passages]


def with_backend(values: Any) -> Any:
    """The model's fields with ``backend`` made from ``url``/``api_key``/``settings`` when none is given."""
    if not isinstance(values, dict):
        return values
    values = dict(values)
    url, api_key, settings = values.pop("url", None), values.pop("api_key", None), values.pop("settings", None)
    if values.get("backend") is None:
        values["backend"] = connect(url, api_key, settings=settings)
    return values
