"""Response pieces every route shares: the error envelope, passages, citations, usage and verdicts.

The shapes mirror what ``verirag ask --json`` prints (``AnswerResult.to_dict``, ``Passage.to_dict``,
``Verdict.to_dict``). Models that mirror the core library's dictionaries allow extra keys, so a
field the library adds later passes through instead of failing validation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from rag.store.base import FILTER_KEY_PATTERN, check_filter_key
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

FilterKey = Annotated[
    str, Field(max_length=128, json_schema_extra={"pattern": FILTER_KEY_PATTERN}), AfterValidator(check_filter_key)
]
# Qdrant matches 64-bit integers; a larger one could not be sent.
FilterInt = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
FilterString = Annotated[StrictStr, Field(max_length=1000)]
FilterScalar = Union[FilterString, FilterInt, StrictBool]
FilterValue = Union[FilterScalar, Annotated[list[Union[FilterString, FilterInt]], Field(min_length=1, max_length=100)]]
Filters = Annotated[
    dict[FilterKey, FilterValue],
    Field(
        max_length=32,
        description=(
            "Metadata filters, all of which must hold: {\"doc_id\": \"a.md\", \"page\": 3, \"lang\": \"en\"}. "
            "A list matches any of its values. `page` matches any page of a chunk; keys other than doc_id, "
            "source, title and page are the metadata fields of a corpus."
        ),
        examples=[{"doc_id": "oncall_runbook.md"}],
    ),
]
ReasoningChoice = Literal["include", "omit"]
VerifyPolicy = Literal["accept", "flag", "retry", "abstain"]
Fusion = Literal["rrf", "dbsf"]


class ErrorDetail(BaseModel):
    type: str = Field(description="Machine-readable kind: invalid_request, unauthorized, rate_limited, …")
    message: str = Field(description="What went wrong and what to do about it.")
    param: Optional[str] = Field(None, description="The request field at fault, when there is one.")
    code: Optional[str] = None
    request_id: Optional[str] = None
    details: Optional[list[dict[str, Any]]] = Field(None, description="Validation errors, one per bad field.")


class ErrorResponse(BaseModel):
    """Every error, on every route (OpenAI's envelope, so OpenAI clients read it too)."""

    error: ErrorDetail


class PassageModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str = Field(description="[S#] label; empty for retrieval-only results.")
    doc_id: str
    source: str
    title: str
    section_path: list[str]
    page: Optional[int]
    pages: list[int]
    char_start: int
    char_end: int
    chunk_indexes: list[int]
    scores: dict[str, float]
    text: str


class RankedPassageModel(PassageModel):
    rank: int = Field(description="1 = best.")
    score: float = Field(description="The score the order follows: the reranker's, else the fused one.")


class CitationModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str
    doc_id: str
    source: str
    title: str
    page: Optional[int]
    pages: list[int]
    char_start: int
    char_end: int
    text: str


class UsageModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cache_hit_tokens: Optional[int]
    cache_miss_tokens: Optional[int]


class EvidenceModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    source_label: str
    doc_id: str
    source: str
    page: Optional[int]
    char_start: int
    char_end: int
    text: str


class ClaimCheckModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str
    origin: str = Field(description="answer or trace")
    status: str = Field(description="supported, contradicted, unsupported, undecided or not_checkable")
    citations: list[str]
    evidence: Optional[EvidenceModel] = None


class VerdictModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str = Field(description="supported, partially_supported, unsupported or abstained")
    score: float
    policy_action: str = Field(description="What the policy did: accept, flag, retry or abstain.")
    warnings: list[str] = []
    issues: list[str] = []
    claims: list[ClaimCheckModel] = []
    previous: Optional["VerdictModel"] = None


class AnswerModel(BaseModel):
    """What ``verirag ask --json`` prints for one question."""

    model_config = ConfigDict(extra="allow")

    question: str
    answer: str
    reasoning: Optional[str] = Field(description="The model's reasoning trace; null when omitted.")
    model: str = Field(description="The profile that answered (a fallback may have stepped in).")
    citations: list[CitationModel]
    unknown_citations: list[str] = Field(description="[S#] labels the answer cites that name no given source.")
    passages: list[PassageModel]
    usage: UsageModel
    cost_usd: float
    timings: dict[str, float] = Field(description="Seconds per stage: retrieve, generate, verify.")
    prompt_tokens_estimate: int
    passages_dropped: int
    finish_reason: Optional[str]
    verdict: Optional[VerdictModel]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all with the shared envelope."""
    return {status: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


ERROR_DESCRIPTIONS = {
    400: "The request cannot be served as asked (unknown model, bad filter, prompt too long).",
    401: "No API key, or the key is unknown or revoked.",
    403: "The key may not use this collection, or lacks the scope (read, write, admin).",
    404: "No such collection, document, job or model.",
    409: "The conversation id cannot take this question: it answers from another collection, the messages "
         "do not continue it, or a question answered at the same time changed it (ask again).",
    413: "The request body (or an upload) is larger than the limit.",
    422: "The request does not match the schema or exceeds a configured bound.",
    429: "The key's rate limit is spent; retry after the Retry-After seconds.",
    502: "The model provider refused the request (bad key, no balance, invalid request).",
    503: "The model or the store is unavailable or busy; retry after the Retry-After seconds.",
    504: "A stage (retrieval, generation, verification) ran past its deadline.",
}
