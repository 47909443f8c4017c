"""An integration's verirag in this process: the core library over its own store (the embedded engine, or
a Qdrant server when the settings name one), with the answers shaped as the HTTP API shapes them.

Collections are opened on first use and kept open, as the API keeps them: an embedded collection belongs
to one process at a time, so while an integration holds one, ``verirag ingest`` into it is refused (run a
Qdrant server, ``VERIRAG_QDRANT_URL``, to share collections between processes). All collections share one
embedder and one verifier, whose caches then serve every question.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Optional, Sequence

from api.client.types import Answer, CollectionSummary, DocumentSummary, RankedPassage, Verdict, verify_passage
from integrations.documents import DocumentText, joined_at_spans
from rag.chunk_record import from_payload
from rag.pipeline import AnswerRequest, Pipeline, pipeline_for
from rag.retrieval import passage_json
from rag.settings import Settings
from rag.store import FieldFilter, VectorStore, list_collections, open_store
from rag.store.base import check_filter_key
from rag.verify.given import default_policy, verify_answer, verify_input


class LocalVerirag:
    def __init__(self, settings: Optional[Settings] = None, embedder: Any = None,
                 default_collection: Optional[str] = None):
        self.settings = (settings or Settings()).with_overrides(default_collection=default_collection)
        self._embedder = embedder
        self._verifier = None
        self._pipelines: dict[str, Pipeline] = {}
        self._lock = threading.Lock()

    @property
    def serves_documents(self) -> bool:
        return True

    @property
    def default_collection(self) -> str:
        return self.settings.default_collection

    # -- the calls ----------------------------------------------------------------------------------------
    def search(self, question: str, *, collection: Optional[str] = None, top_k: Optional[int] = None,
               filters: Optional[Mapping[str, Any]] = None) -> list[RankedPassage]:
        passages = self.pipeline(collection).retrieve(self._request(question, top_k, filters))
        return [RankedPassage.model_validate(passage_json(rank, passage)) for rank, passage in enumerate(passages, 1)]

    def ask(self, question: str, *, collection: Optional[str] = None, top_k: Optional[int] = None,
            filters: Optional[Mapping[str, Any]] = None, model: Optional[str] = None,
            verify: Optional[str] = None) -> Answer:
        name = collection or self.default_collection
        result = self.pipeline(name).answer(self._request(question, top_k, filters, model=model, verify=verify))
        return Answer.model_validate({"request_id": None, "collection": name, **result.to_dict()})

    def verify(self, answer: str, passages: Sequence[Any], *, question: Optional[str] = None,
               reasoning: Optional[str] = None, require_citations: bool = True) -> Verdict:
        given = verify_input({"question": question, "answer": answer, "reasoning": reasoning,
                              "require_citations": require_citations,
                              "passages": [verify_passage(passage) for passage in passages]})
        verdict = verify_answer(self.verifier(), given, default_policy(self.settings))
        return Verdict.model_validate(verdict.to_dict())

    def collections(self) -> list[CollectionSummary]:
        infos = []
        for name in self._names():
            with self._lock:
                pipeline = self._pipelines.get(name)
            if pipeline is not None:  # an open embedded collection cannot be opened a second time
                infos.append(pipeline.store.info())
            else:
                store = open_store(self.settings, name)
                try:
                    infos.append(store.info())
                finally:
                    store.close()
        return [CollectionSummary(name=i.name, documents=i.documents, points=i.points, backend=i.backend)
                for i in infos]

    def documents(self, collection: str) -> list[DocumentSummary]:
        states = self.store(collection).document_states().values()
        return [DocumentSummary(doc_id=s.doc_id, source=s.source, chunks=s.points)
                for s in sorted(states, key=lambda s: s.doc_id)]

    def document(self, collection: str, doc_id: str) -> DocumentText:
        """The document's text as stored: its chunks joined at their spans (integrations.documents)."""
        store = self.store(collection)
        state = store.document_states().get(doc_id)
        if state is None:
            raise LookupError(f"collection {collection!r} holds no document {doc_id!r}")
        records = [record for hit in store.chunks_of(doc_id, range(state.chunk_count))
                   if (record := from_payload(hit.payload)) is not None]
        records.sort(key=lambda record: record.index)
        text, complete = joined_at_spans(records)
        pages = sorted({page for record in records for page in record.pages})
        return DocumentText(doc_id=doc_id, source=state.source, title=records[0].title if records else "",
                            text=text, pages=pages, chunks=len(records), complete=complete)

    # -- what the calls share -----------------------------------------------------------------------------
    def pipeline(self, collection: Optional[str] = None) -> Pipeline:
        """The collection's pipeline, opened on first use; the store's errors say what is wrong."""
        name = collection or self.default_collection
        with self._lock:
            pipeline = self._pipelines.get(name)
            if pipeline is None:
                store = open_store(self.settings, name)
                try:
                    store.check_dimension(self.embedder().dimension)
                    pipeline = pipeline_for(self.settings, store, self.embedder())
                except BaseException:
                    store.close()
                    raise
                if pipeline.verifier is not None:
                    pipeline.verifier = self._shared_verifier()
                self._pipelines[name] = pipeline
            return pipeline

    def store(self, collection: Optional[str] = None) -> VectorStore:
        return self.pipeline(collection).store

    def embedder(self):
        if self._embedder is None:
            from rag.embedding import embedder_for

            self._embedder = embedder_for(self.settings)
        return self._embedder

    def verifier(self):
        with self._lock:
            return self._shared_verifier()

    def _shared_verifier(self):
        if self._verifier is None:
            from rag.verify.verifier import verifier_for

            self._verifier = verifier_for(self.settings, self.embedder())
        return self._verifier

    def _request(self, question: str, top_k: Optional[int], filters: Optional[Mapping[str, Any]],
                 **options: Any) -> AnswerRequest:
        return AnswerRequest(question=question, top_k=top_k, filters=field_filters(filters), **options)

    def _names(self) -> list[str]:
        if self.settings.qdrant_url:
            return [info.name for info in list_collections(self.settings)]
        root = self.settings.collections_dir
        if not root.is_dir():
            return []
        return sorted(path.name for path in root.iterdir() if (path / "shard").is_dir())

    def close(self) -> None:
        with self._lock:
            pipelines, self._pipelines = list(self._pipelines.values()), {}
        for pipeline in pipelines:
            pipeline.store.close()


def field_filters(filters: Optional[Mapping[str, Any]]) -> tuple[FieldFilter, ...]:
    """{"doc_id": "a.md", "page": 3, "lang": ["en", "de"]} → the store's conditions (a list matches any value),
    as the API reads its ``filters``; a key that is no field path is refused with the rule."""
    return tuple(FieldFilter(check_filter_key(key), list(value) if isinstance(value, (list, tuple)) else value)
                 for key, value in (filters or {}).items())
