"""Collections and their documents: list, inspect, upload into (a job), delete from."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from ingest.archive_limits import ArchiveLimits

from api.deps import Authenticated, State
from api.errors import ApiError, TooManyOpenCollections, translate
from api.jobs.uploads import IncomingFile, remove_stored_uploads, store_uploads
from api.public_sources import public_source
from api.schemas.common import error_responses
from api.schemas.documents import CollectionDetail, CollectionList, DocumentDeleted, UploadAccepted
from api.schemas.query import COLLECTION_PATTERN, no_double_dot
from api.state import AppState

router = APIRouter(tags=["collections"])
CollectionName = Annotated[
    str, Path(pattern=COLLECTION_PATTERN, description="Collection name ('..' is refused)."),
    AfterValidator(no_double_dot),
]


async def _in_thread(state: AppState, function, *args):
    return await asyncio.get_running_loop().run_in_executor(state.executor, function, *args)


def _info(state: AppState, name: str) -> dict:
    info = state.collections.get(name).store.info()
    return {"name": info.name, "documents": info.documents, "points": info.points, "backend": info.backend}


def _listed(state: AppState, name: str) -> dict:
    """A listing opens a collection only while there is room: listing many never fails on the cap."""
    if state.collections.can_open(name):
        try:
            return _info(state, name)
        except TooManyOpenCollections:  # another request took the last room meanwhile
            pass
    return {"name": name, "documents": None, "points": None, "backend": None}


@router.get("/v1/collections", response_model=CollectionList, summary="Collections this key may read",
            responses=error_responses(401, 429, 503))
async def list_collections(caller: Authenticated, state: State):
    def listing() -> list[dict]:
        return [_listed(state, name) for name in state.collections.names() if caller.may(name, "read")]

    return {"collections": await _in_thread(state, listing)}


@router.get("/v1/collections/{name}", response_model=CollectionDetail, summary="One collection and its documents",
            responses=error_responses(401, 403, 404, 422, 429, 503))
async def get_collection(
    name: CollectionName, caller: Authenticated, state: State,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
):  # fmt: skip
    caller.require(name, "read")

    def detail() -> dict:
        collection = state.collections.get(name)
        states = sorted(collection.store.document_states().values(), key=lambda s: s.doc_id)
        # Clients see a document's path relative to its ingest root, never the server's file system.
        page = [{"doc_id": s.doc_id, "source": public_source(s.source, s.doc_id), "chunks": s.points,
                 "content_sha256": s.provenance.source_sha256, "size_bytes": s.provenance.source_bytes,
                 "ingested_at": s.provenance.ingested_at, "ingested_by": s.provenance.ingested_by}
                for s in states[offset: offset + limit]]
        return {**_info(state, name), "document_list": page, "offset": offset, "limit": limit}

    return await _in_thread(state, detail)


@router.post(
    "/v1/collections/{name}/documents",
    status_code=202,
    response_model=UploadAccepted,
    summary="Upload documents: an ingest job runs them in the background",
    description=(
        "Multipart field `files`, one or many. Each file is checked now (name, size, and its bytes against "
        "its extension and Content-Type); rejected files are listed with the reason and not kept. The rest is "
        "ingested by a background job: poll `status_url`. The collection is created on first upload. "
        "A file's doc_id is its cleaned name (a short hash of the original is added when characters are "
        "replaced or the name is cut to 255 bytes): uploading the same name again replaces that document."
    ),
    responses=error_responses(400, 401, 403, 413, 422, 429, 503),
)
async def upload_documents(
    name: CollectionName, files: Annotated[list[UploadFile], File(description="The documents.")],
    caller: Authenticated, state: State, request: Request,
):  # fmt: skip
    caller.require(name, "write")
    limit = state.api_settings.max_upload_files
    if len(files) > limit:
        raise ApiError(400, "too_many_files", f"{len(files)} files in one upload; at most {limit} "
                       "(VERIRAG_API_MAX_UPLOAD_FILES)", param="files")
    if not state.collections.can_open(name):  # refused before a byte is stored, not as a failed job later
        raise translate(TooManyOpenCollections(
            f"cannot ingest into collection {name!r}: this server already holds "
            f"{state.collections.max_open} collections open, the most VERIRAG_API_MAX_OPEN_COLLECTIONS allows; "
            "upload into an open collection, or raise the setting and restart the server"))
    job_id = uuid.uuid4().hex
    incoming = [IncomingFile(f.filename, f.content_type, f.file) for f in files]
    records = await _in_thread(state, store_uploads, state.uploads_dir / job_id, incoming,
                               state.api_settings.max_upload_bytes, ArchiveLimits.from_settings(state.settings))
    job = state.jobs.create(job_id, name, caller.id, records)
    for record in records:
        if record.status == "rejected":
            state.metrics.files.labels("rejected").inc()
    state.worker.wake()
    state.audit.record("upload", caller.id, name, job_id=job_id,
                       files=[{"name": r.name, "doc_id": r.doc_id, "status": r.status} for r in records])
    body = {"job_id": job.id, "collection": name, "state": job.state, "files": [f.to_dict() for f in job.files],
            "status_url": str(request.url_for("get_job", job_id=job.id).path)}
    return JSONResponse(body, status_code=202, headers={"Location": body["status_url"]})


@router.delete(
    "/v1/collections/{name}/documents/{doc_id:path}",
    response_model=DocumentDeleted,
    summary="Delete a document: all its chunks, and every uploaded copy of it the server holds",
    description=(
        "Needs a key with the admin scope. The document's points are deleted, and so is every file uploaded "
        "under this doc_id into this collection (also one whose ingest failed or has not run yet: its job then "
        "reports the file as gone). A job ingesting the document at this very moment may still write it: "
        "delete again once that job has finished."
    ),
    responses=error_responses(401, 403, 404, 422, 429, 503),
)
async def delete_document(name: CollectionName, doc_id: str, caller: Authenticated, state: State):
    caller.require(name, "admin")

    def delete() -> tuple[int, int]:
        chunks = state.collections.get(name).store.delete_document(doc_id)
        uploads = remove_stored_uploads(state.uploads_dir, state.jobs.stored_uploads(name, doc_id))
        return chunks, uploads

    chunks, uploads = await _in_thread(state, delete)
    if not chunks and not uploads:
        raise ApiError(404, "document_not_found", f"collection {name!r} holds no document {doc_id!r}", param="doc_id")
    state.audit.record("delete", caller.id, name, doc_id=doc_id, chunks_deleted=chunks, uploads_deleted=uploads)
    return {"collection": name, "doc_id": doc_id, "chunks_deleted": chunks, "uploads_deleted": uploads}
