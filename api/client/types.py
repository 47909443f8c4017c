"""What the HTTP API answers, as typed objects: the bodies docs/api.md describes.

These mirror the server's response schemas (api.schemas) without importing them: the server's schemas
import the core library, whose import sets process-wide offline defaults (rag.offline), and a client
living in someone else's application must not change their environment. tests/api/test_client.py checks
that every field the server's schemas require is declared here too. Every model allows extra keys, so a
field a newer server adds reaches the caller (``result.model_extra``) instead of failing validation.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class Passage(ApiModel):
    """A source passage: a span of one document (``char_start``/``char_end`` in its extracted text)."""

    label: str = Field("", description="[S#] label the answer cites; empty for retrieval-only results.")
    doc_id: str
    source: str
    title: str = ""
    section_path: list[str] = []
    page: Optional[int] = None
    pages: list[int] = []
    char_start: int = 0
    char_end: int = 0
    chunk_indexes: list[int] = []
    scores: dict[str, float] = {}
    text: str


class RankedPassage(Passage):
    rank: int
    score: float


class Citation(ApiModel):
    label: str
    doc_id: str
    source: str
    title: str = ""
    page: Optional[int] = None
    pages: list[int] = []
    char_start: int = 0
    char_end: int = 0
    text: str


class Usage(ApiModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cache_hit_tokens: Optional[int] = None
    cache_miss_tokens: Optional[int] = None


class Evidence(ApiModel):
    source_label: str
    doc_id: str
    source: str
    page: Optional[int] = None
    char_start: int
    char_end: int
    text: str


class ClaimCheck(ApiModel):
    text: str
    origin: str  # answer or trace
    kind: Optional[str] = None
    status: str  # supported, contradicted, unsupported, undecided or not_checkable
    citations: list[str] = []
    citation_issue: Optional[str] = None
    evidence: Optional[Evidence] = None
    judge: Optional[str] = None
    confidence: Optional[float] = None
    notes: list[str] = []


class Verdict(ApiModel):
    label: str  # supported, partially_supported, unsupported or abstained
    score: float
    policy_action: str
    warnings: list[str] = []
    issues: list[str] = []
    claims: list[ClaimCheck] = []
    previous: Optional["Verdict"] = None

    @property
    def answer_claims(self) -> list[ClaimCheck]:
        return [claim for claim in self.claims if claim.origin == "answer"]


class Answer(ApiModel):
    """POST /v1/query's body (``verirag ask --json`` plus ``request_id`` and ``collection``)."""

    request_id: Optional[str] = None  # None when answered in-process, not by a server
    collection: Optional[str] = None
    question: str
    answer: str
    reasoning: Optional[str] = None
    model: str
    citations: list[Citation] = []
    unknown_citations: list[str] = []
    passages: list[Passage] = []
    usage: Usage = Usage()
    cost_usd: float = 0.0
    timings: dict[str, float] = {}
    prompt_tokens_estimate: int = 0
    passages_dropped: int = 0
    finish_reason: Optional[str] = None
    verdict: Optional[Verdict] = None
    replaced_answer: Optional[str] = None
    conversation: Optional[dict[str, Any]] = None  # id, turn, expires_at, retrieval_query, … (a conversation id)


class Retrieval(ApiModel):
    """POST /v1/retrieve's body."""

    request_id: Optional[str] = None
    collection: str
    passages: list[RankedPassage]
    timings: dict[str, float] = {}


class Verification(ApiModel):
    """POST /v1/verify's body."""

    request_id: Optional[str] = None
    verdict: Verdict
    timings: dict[str, float] = {}


class CollectionSummary(ApiModel):
    name: str
    documents: Optional[int] = None  # null when the server has no room to open it (see docs/api.md)
    points: Optional[int] = None
    backend: Optional[str] = None


class DocumentSummary(ApiModel):
    doc_id: str
    source: str
    chunks: int


class Collection(CollectionSummary):
    """GET /v1/collections/{name}: the collection and one page of its documents."""

    document_list: list[DocumentSummary] = []
    offset: int = 0
    limit: int = 100


class JobFile(ApiModel):
    name: str
    doc_id: Optional[str] = None
    size: int
    content_type: Optional[str] = None
    detected_type: Optional[str] = None
    status: str  # pending, ingested, unchanged, failed or rejected
    error: Optional[str] = None
    chunks_written: int = 0
    chunks_deleted: int = 0


class JobProgress(ApiModel):
    files_total: int
    files_done: int
    fraction: float


class Job(ApiModel):
    id: str
    collection: str
    state: str  # queued, running, succeeded or failed
    progress: JobProgress
    files: list[JobFile]
    error: Optional[str] = None
    note: Optional[str] = None
    attempts: int = 0
    created_at: float
    started_at: Optional[float] = None
    finished_at: Optional[float] = None

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


class UploadAccepted(ApiModel):
    job_id: str
    collection: str
    state: str
    files: list[JobFile]
    status_url: str


class DocumentDeleted(ApiModel):
    collection: str
    doc_id: str
    chunks_deleted: int


def verify_passage(passage: Any) -> dict[str, Any]:
    """A passage for POST /v1/verify from a string, a mapping or a :class:`Passage`: the fields the
    endpoint takes (text, label, doc_id, source, title, page), empty ones left out."""
    if isinstance(passage, str):
        return {"text": passage}
    data = passage.model_dump() if isinstance(passage, BaseModel) else dict(passage)
    body = {key: data.get(key) for key in ("text", "label", "doc_id", "source", "title", "page")}
    return {key: value for key, value in body.items() if value not in (None, "")}
