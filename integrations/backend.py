"""Where an integration's verirag lives: in this process, or behind a verirag API.

Both answer the same calls with the HTTP client's typed results (api.client.types), so a LlamaIndex
retriever, a LangChain runnable or the MCP server is written once and works against either:

>>> verirag = connect()                                            # in-process, as VERIRAG_* settings say
>>> verirag = connect("http://verirag.internal:8000", api_key=KEY)  # a running `verirag serve`
>>> verirag.search("At what speed does Unit 3 trip?", collection="handbook", top_k=4)
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Protocol, Sequence

from api.client.types import Answer, CollectionSummary, DocumentSummary, RankedPassage, Verdict
from integrations.documents import DocumentText

Filters = Mapping[str, Any]


class VeriragBackend(Protocol):
    def search(self, question: str, *, collection: Optional[str] = None, top_k: Optional[int] = None,
               filters: Optional[Filters] = None) -> list[RankedPassage]:
        """Hybrid retrieval with neighbour expansion; best first."""
        ...

    def ask(self, question: str, *, collection: Optional[str] = None, top_k: Optional[int] = None,
            filters: Optional[Filters] = None, model: Optional[str] = None,
            verify: Optional[str] = None) -> Answer:
        """Retrieve, generate, verify: the answer with its citations and verdict."""
        ...

    def verify(self, answer: str, passages: Sequence[Any], *, question: Optional[str] = None,
               reasoning: Optional[str] = None, require_citations: bool = True) -> Verdict:
        """A given answer checked claim by claim against given passages (labelled S1…Sn in order)."""
        ...

    def collections(self) -> list[CollectionSummary]: ...

    def documents(self, collection: str) -> list[DocumentSummary]: ...

    def document(self, collection: str, doc_id: str) -> DocumentText:
        """The stored text of one document. Only in this process: the HTTP API serves passages, not
        documents (NotImplementedError)."""
        ...

    @property
    def serves_documents(self) -> bool:
        """Whether :meth:`document` works (only in this process)."""
        ...

    @property
    def default_collection(self) -> Optional[str]:
        """The collection used when a call names none (None: the server decides)."""
        ...

    def close(self) -> None: ...


def connect(url: Optional[str] = None, api_key: Optional[str] = None, *, settings: Any = None,
            embedder: Any = None, collection: Optional[str] = None) -> VeriragBackend:
    """A remote verirag API when ``url`` is given; otherwise verirag in this process, configured by
    ``settings`` (a :class:`rag.settings.Settings`; default: the VERIRAG_* environment and verirag.toml).
    ``collection``: the one calls use when they name none (default: the server's, or the settings')."""
    if url is not None:
        from api.client import Client
        from integrations.remote import RemoteVerirag

        return RemoteVerirag(Client(url, api_key), default_collection=collection)
    if api_key is not None:
        raise ValueError("api_key is for a remote verirag API: give its url too")
    from integrations.local import LocalVerirag

    return LocalVerirag(settings, embedder, default_collection=collection)
