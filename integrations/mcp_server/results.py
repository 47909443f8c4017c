"""What the MCP tools return: compact, typed results (their JSON Schemas are the tools' output schemas), built
from the HTTP client's types. Each source carries ``resource``, the URI that reads its whole document, when the
server can serve documents."""

from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from pydantic import BaseModel, Field

from api.client.types import Answer, ClaimCheck, CollectionSummary, RankedPassage, Verdict

SCHEME = "verirag"


def collection_uri(collection: str) -> str:
    return f"{SCHEME}://collections/{quote(collection, safe='')}"


def document_uri(collection: str, doc_id: str) -> str:
    # {+doc_id}: a doc_id is often a path ("manuals/pump.pdf"), and its slashes stay slashes.
    return f"{collection_uri(collection)}/documents/{quote(doc_id, safe='/')}"


class SearchHit(BaseModel):
    rank: int = Field(description="1 = best.")
    score: float = Field(description="The fused (or reranked) retrieval score the order follows.")
    doc_id: str
    source: str = Field(description="Where the document came from (a path or a corpus record).")
    title: str
    section_path: list[str] = Field(description="Headings above the passage, outermost first.")
    page: Optional[int] = Field(description="First page of the passage, when the format has pages.")
    pages: list[int]
    char_start: int = Field(description="Where the passage starts in the document's extracted text.")
    char_end: int
    text: str
    resource: Optional[str] = Field(None, description="URI of the whole document (resources/read).")


class SearchResult(BaseModel):
    collection: Optional[str]
    passages: list[SearchHit]


class EvidenceSpan(BaseModel):
    source_label: str = Field(description="The passage it was read in (S1, S2, …).")
    doc_id: str
    source: str
    page: Optional[int]
    text: str = Field(description="The span of the passage the judge read.")


class CheckedClaim(BaseModel):
    text: str
    origin: str = Field(description="answer, or trace (the model's reasoning).")
    status: str = Field(description="supported, contradicted, unsupported, undecided or not_checkable.")
    citations: list[str] = Field(description="[S#] labels the claim cites.")
    citation_issue: Optional[str] = Field(description="miscited, uncited or unknown; null when fine.")
    judge: Optional[str] = Field(description="Which check decided: exact, entailment, semantic, llm, citation.")
    evidence: Optional[EvidenceSpan]
    notes: list[str] = Field(description="What the checks found, in words.")


class VerdictResult(BaseModel):
    label: str = Field(description="supported, partially_supported, unsupported or abstained.")
    score: float = Field(description="0–1: the mean support of the answer's factual claims.")
    policy_action: str = Field(description="What the policy did: accept, flag, retry or abstain.")
    warnings: list[str] = Field(description="What a reader should know before trusting the answer.")
    issues: list[str] = Field(description="Answer-level findings (a trace misstating a source, a suspect abstention).")
    claims: list[CheckedClaim]


class CitedSource(BaseModel):
    label: str = Field(description="The [S#] label the answer cites.")
    doc_id: str
    source: str
    title: str
    page: Optional[int]
    text: str = Field(description="The passage the label named.")
    resource: Optional[str] = Field(None, description="URI of the whole document (resources/read).")


class AskResult(BaseModel):
    question: str
    answer: str = Field(description="The answer, citing its sources as [S1], [S2], ….")
    citations: list[CitedSource]
    unknown_citations: list[str] = Field(description="Labels the answer cites that name no source (invented).")
    verdict: Optional[VerdictResult] = Field(description="The verification of the answer against its sources.")
    model: str = Field(description="The model profile that answered.")
    collection: Optional[str]


class CollectionEntry(BaseModel):
    name: str
    documents: Optional[int]
    points: Optional[int] = Field(description="Stored chunks.")
    resource: str = Field(description="URI listing the collection's documents (resources/read).")


class CollectionsResult(BaseModel):
    collections: list[CollectionEntry]


def search_result(collection: Optional[str], passages: list[RankedPassage], documents: bool) -> SearchResult:
    return SearchResult(collection=collection, passages=[
        SearchHit(rank=p.rank, score=p.score, doc_id=p.doc_id, source=p.source, title=p.title,
                  section_path=p.section_path, page=p.page, pages=p.pages, char_start=p.char_start,
                  char_end=p.char_end, text=p.text,
                  resource=document_uri(collection, p.doc_id) if documents and collection else None)
        for p in passages
    ])  # fmt: skip


def verdict_result(verdict: Verdict) -> VerdictResult:
    return VerdictResult(label=verdict.label, score=verdict.score, policy_action=verdict.policy_action,
                         warnings=verdict.warnings, issues=verdict.issues,
                         claims=[_claim(claim) for claim in verdict.claims])


def _claim(claim: ClaimCheck) -> CheckedClaim:
    evidence = claim.evidence
    return CheckedClaim(
        text=claim.text, origin=claim.origin, status=claim.status, citations=claim.citations,
        citation_issue=claim.citation_issue, judge=claim.judge, notes=claim.notes,
        evidence=EvidenceSpan(source_label=evidence.source_label, doc_id=evidence.doc_id, source=evidence.source,
                              page=evidence.page, text=evidence.text) if evidence is not None else None,
    )  # fmt: skip


def ask_result(answer: Answer, documents: bool) -> AskResult:
    collection = answer.collection
    return AskResult(
        question=answer.question, answer=answer.answer, unknown_citations=answer.unknown_citations,
        verdict=verdict_result(answer.verdict) if answer.verdict is not None else None,
        model=answer.model, collection=collection,
        citations=[CitedSource(label=c.label, doc_id=c.doc_id, source=c.source, title=c.title, page=c.page,
                               text=c.text,
                               resource=document_uri(collection, c.doc_id) if documents and collection else None)
                   for c in answer.citations],
    )  # fmt: skip


def collections_result(collections: list[CollectionSummary]) -> CollectionsResult:
    return CollectionsResult(collections=[
        CollectionEntry(name=c.name, documents=c.documents, points=c.points, resource=collection_uri(c.name))
        for c in collections
    ])  # fmt: skip
