"""Bodies of the collection, document and job routes."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field

JobState = Literal["queued", "running", "succeeded", "failed"]
FileStatus = Literal["pending", "ingested", "unchanged", "failed", "rejected"]


class JobFile(BaseModel):
    name: str = Field(description="The file name as uploaded.")
    doc_id: Optional[str] = Field(description="The document id it is stored under (its cleaned name); null if rejected.")
    size: int
    content_type: Optional[str] = Field(description="The type the client claimed.")
    detected_type: Optional[str] = Field(description="What the bytes are, sniffed.")
    status: FileStatus = Field(description="pending, ingested, unchanged (already stored), failed or rejected (at upload).")
    error: Optional[str] = None
    chunks_written: int = 0
    chunks_deleted: int = 0


class JobProgress(BaseModel):
    files_total: int
    files_done: int
    fraction: float


class JobModel(BaseModel):
    id: str
    collection: str
    state: JobState
    progress: JobProgress
    files: list[JobFile]
    error: Optional[str] = Field(None, description="Why the job failed as a whole.")
    note: Optional[str] = Field(None, description="E.g. that it was resumed after a restart.")
    attempts: int
    created_at: float
    started_at: Optional[float]
    finished_at: Optional[float]


class UploadAccepted(BaseModel):
    job_id: str
    collection: str
    state: JobState
    files: list[JobFile]
    status_url: str


class CollectionModel(BaseModel):
    name: str
    documents: int | None = Field(
        description="null in a listing when the server holds as many collections open as it may "
                    "(VERIRAG_API_MAX_OPEN_COLLECTIONS) and this one is not among them")
    points: int | None
    backend: str | None


class CollectionList(BaseModel):
    collections: list[CollectionModel]


class DocumentModel(BaseModel):
    doc_id: str
    source: str
    chunks: int
    # Provenance, recorded at ingest; null for documents ingested before it was recorded.
    content_sha256: Optional[str] = Field(
        None, description="SHA-256 of the source file's bytes (a JSONL record: of its title and text).")
    size_bytes: Optional[int] = Field(None, description="Size of the source file in bytes.")
    ingested_at: Optional[str] = Field(None, description="When this version was ingested (UTC, ISO 8601).")
    ingested_by: Optional[str] = Field(
        None, description="key:<API key id> for uploads (key:anonymous in open mode), cli:<OS user> for "
                          "`verirag ingest`.")


class CollectionDetail(CollectionModel):
    document_list: list[DocumentModel] = Field(description="Documents by doc_id, one page of them (offset, limit).")
    offset: int
    limit: int


class DocumentDeleted(BaseModel):
    collection: str
    doc_id: str
    chunks_deleted: int
    uploads_deleted: int = Field(0, description="Uploaded copies of the document deleted from the server's disk.")
