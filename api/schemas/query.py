"""Request and response bodies of /v1/query and /v1/retrieve.

Hard bounds live in the schema; the configured ones (VERIRAG_API_MAX_QUESTION_CHARS,
VERIRAG_API_MAX_TOP_K) are checked by the route, since the document is built once per process.
"""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.schemas.common import AnswerModel, Filters, Fusion, RankedPassageModel, ReasoningChoice, VerifyPolicy

QUESTION_HARD_LIMIT = 100_000
TOP_K_HARD_LIMIT = 1000
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


def no_double_dot(name: str) -> str:
    """The pattern checks the characters; '..' is refused here (JSON Schema patterns have no lookahead
    that every generator supports)."""
    if ".." in name:
        raise ValueError("'..' is not allowed in a collection name")
    return name


CollectionName = Annotated[str, Field(pattern=COLLECTION_PATTERN), AfterValidator(no_double_dot)]


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "At what speed does Unit 3 trip on overspeed?", "top_k": 4},
    ]})

    question: str = Field(
        min_length=1, max_length=QUESTION_HARD_LIMIT,
        description="At most VERIRAG_API_MAX_QUESTION_CHARS characters (default 4000).",
        examples=["At what speed does Unit 3 trip on overspeed?"],
    )
    collection: Optional[CollectionName] = Field(
        None, description="Collection to search; default VERIRAG_DEFAULT_COLLECTION."
    )
    filters: Optional[Filters] = None
    top_k: Optional[int] = Field(
        None, ge=1, le=TOP_K_HARD_LIMIT,
        description="Passages to return; default VERIRAG_RETRIEVAL_TOP_K, at most VERIRAG_API_MAX_TOP_K (50).",
    )
    fusion: Optional[Fusion] = Field(None, description="How dense and BM25 rankings are fused; default VERIRAG_FUSION.")


class QueryRequest(RetrieveRequest):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "At what speed does Unit 3 trip on overspeed?", "reasoning": "omit", "verify": "flag"},
        {"question": "How much is the on-call allowance on a Saturday?", "stream": True},
    ]})

    model: Optional[str] = Field(
        None, min_length=1, max_length=200,
        description="Model profile (plain, or as verirag/PROFILE); default VERIRAG_DEFAULT_MODEL.",
    )
    reasoning: ReasoningChoice = Field("include", description="Return the model's reasoning trace, or omit it.")
    verify: Optional[VerifyPolicy] = Field(None, description="Verdict policy; default VERIRAG_VERIFY_POLICY.")
    stream: bool = Field(
        False,
        description=(
            "Answer as Server-Sent Events: retrieval, reasoning…, answer…, verification, done "
            "(or error)."
        ),
    )


class QueryResponse(AnswerModel):
    request_id: str
    collection: str


class RetrieveResponse(BaseModel):
    request_id: str
    collection: str
    passages: list[RankedPassageModel]
    timings: dict[str, float] = Field(description="Seconds: retrieve.")
