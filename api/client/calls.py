"""Each endpoint call described once — method, path, body, the type of its result — so the sync and the
async client only send what is described here and differ in nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union
from urllib.parse import quote

from api.client.types import (
    Answer,
    Collection,
    CollectionSummary,
    DocumentDeleted,
    Job,
    Retrieval,
    UploadAccepted,
    Verification,
    verify_passage,
)

UNTYPED = "application/octet-stream"
Filters = Mapping[str, Any]
# A file to upload: a path, or (name, bytes) or (name, bytes, content type).
UploadFile = Union[str, PathLike, tuple[str, bytes], tuple[str, bytes, str]]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    parse: Callable[[Any], Any]
    json: Optional[dict[str, Any]] = None
    params: Optional[dict[str, Any]] = None
    files: Optional[list[tuple[str, tuple[str, bytes, str]]]] = field(default=None, repr=False)


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    """Options left unset are not sent: the server's defaults (VERIRAG_*) apply."""
    return {key: value for key, value in body.items() if value is not None}


def query(question: str, *, collection: Optional[str] = None, filters: Optional[Filters] = None,
          top_k: Optional[int] = None, model: Optional[str] = None, reasoning: Optional[str] = None,
          verify: Optional[str] = None, fusion: Optional[str] = None, stream: bool = False,
          conversation: Optional[str] = None) -> Call:
    body = _without_none({"question": question, "collection": collection, "filters": dict(filters) if filters else None,
                          "top_k": top_k, "model": model, "reasoning": reasoning, "verify": verify,
                          "fusion": fusion, "conversation": conversation})
    if stream:
        body["stream"] = True
    return Call("POST", "/v1/query", Answer.model_validate, json=body)


def retrieve(question: str, *, collection: Optional[str] = None, filters: Optional[Filters] = None,
             top_k: Optional[int] = None, fusion: Optional[str] = None) -> Call:
    body = _without_none({"question": question, "collection": collection,
                          "filters": dict(filters) if filters else None, "top_k": top_k, "fusion": fusion})
    return Call("POST", "/v1/retrieve", Retrieval.model_validate, json=body)


def verify(answer: str, passages: Sequence[Any], *, question: Optional[str] = None, reasoning: Optional[str] = None,
           policy: Optional[str] = None, require_citations: Optional[bool] = None) -> Call:
    body = _without_none({"question": question, "answer": answer, "reasoning": reasoning, "policy": policy,
                          "require_citations": require_citations,
                          "passages": [verify_passage(passage) for passage in passages]})
    return Call("POST", "/v1/verify", Verification.model_validate, json=body)


def collections() -> Call:
    return Call("GET", "/v1/collections",
                lambda body: [CollectionSummary.model_validate(item) for item in body["collections"]])


def collection(name: str, *, offset: int = 0, limit: int = 100) -> Call:
    return Call("GET", f"/v1/collections/{_segment(name)}", Collection.model_validate,
                params={"offset": offset, "limit": limit})


def upload(collection_name: str, files: Sequence[UploadFile]) -> Call:
    return Call("POST", f"/v1/collections/{_segment(collection_name)}/documents", UploadAccepted.model_validate,
                files=[("files", _upload_part(item)) for item in files])


def job(job_id: str) -> Call:
    return Call("GET", f"/v1/jobs/{_segment(job_id)}", Job.model_validate)


def delete_document(collection_name: str, doc_id: str) -> Call:
    # doc_id may hold slashes (a path relative to its ingest root): the route takes the rest of the path.
    return Call("DELETE", f"/v1/collections/{_segment(collection_name)}/documents/{quote(doc_id, safe='/')}",
                DocumentDeleted.model_validate)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _upload_part(item: UploadFile) -> tuple[str, bytes, str]:
    # The server tells a file's format from its bytes and name; application/octet-stream claims nothing, so
    # a file is never refused for a type guessed here. A type the caller gives is sent, and checked.
    if isinstance(item, tuple):
        return item[0], item[1], item[2] if len(item) > 2 else UNTYPED
    path = Path(item)
    return path.name, path.read_bytes(), UNTYPED
