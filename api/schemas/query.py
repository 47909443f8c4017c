"""Request and response bodies of /v1/query and /v1/retrieve.

Hard bounds live in the schema; the configured ones (VERIRAG_API_MAX_QUESTION_CHARS,
VERIRAG_API_MAX_TOP_K) are checked by the route, since the document is built once per process.
Integers and booleans are strict here and in the other request schemas: ``"top_k": "5"``,
``"top_k": true`` or ``"stream": "yes"`` is a 422, never a guess at what the client meant.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from api.schemas.common import AnswerModel, Filters, Fusion, RankedPassageModel, ReasoningChoice, VerifyPolicy
from api.schemas.conversation import ConversationId, ConversationModel

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
_COLLECTION = re.compile(COLLECTION_PATTERN)


def check_collection_name(name: str) -> str:
    """The rule above outside a request body (``verirag keys create``): a key for a name the API refuses
    could never be used."""
    if not isinstance(name, str) or not _COLLECTION.match(name):
        raise ValueError(
            f"{name!r} is not a collection name: 1 to 128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return no_double_dot(name)


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
    top_k: Optional[StrictInt] = Field(
        None, ge=1, le=TOP_K_HARD_LIMIT,
        description="Passages to return; default VERIRAG_RETRIEVAL_TOP_K, at most VERIRAG_API_MAX_TOP_K (50).",
    )
    fusion: Optional[Fusion] = Field(None, description="How dense and BM25 rankings are fused; default VERIRAG_FUSION.")


class HistoryTurn(BaseModel):
    """One earlier turn of the conversation a question continues."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=QUESTION_HARD_LIMIT)


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
    history: list[HistoryTurn] = Field(
        default_factory=list, max_length=1000,
        description=(
            "Earlier turns of the conversation, oldest first (the user's questions and the answers it got), "
            "for a follow-up question; at most VERIRAG_API_MAX_HISTORY_MESSAGES (40). Retrieval uses the "
            "question alone. Not with conversation, which keeps its own history."
        ),
    )
    conversation: Optional[ConversationId] = None
    stream: StrictBool = Field(
        False,
        description=(
            "Answer as Server-Sent Events: retrieval, reasoning…, answer…, verification, done "
            "(or error)."
        ),
    )


class InjectionFindingModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="instruction, hidden or delimiter")
    rule: str = Field(description="override, role, output, conceal, system-prompt, address, exfiltrate, zero-width, "
                                  "tag-characters, source-label, chat-markup, role-line or quote-mark")
    language: Optional[str] = Field(description="en, de, fr or es for an instruction; null otherwise")
    text: str = Field(description="The instruction's sentence; for hidden text, the code points (and what tag "
                                  "characters spell)")
    char_start: int = Field(description="Offsets into the passage's text as retrieved")
    char_end: int


class FlaggedPassageModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: Optional[str] = Field(description="The passage's [S#] label in the prompt; null when it was dropped or "
                                             "left out for room")
    doc_id: str
    source: str
    title: str
    char_start: int
    char_end: int
    action: str = Field(description="marked (flagged text quoted as data, hidden characters removed), dropped (not "
                                    "given to the model), or stripped (hidden characters removed, nothing else found)")
    kinds: list[str]
    findings: list[InjectionFindingModel]


class ScreeningModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    policy: str = Field(description="The injection policy that ran: off, mark or drop (VERIRAG_INJECTION_POLICY).")
    flagged: list[FlaggedPassageModel] = []
    warnings: list[str] = Field(default=[], description="The answer cites a flagged passage, or repeats what only "
                                                        "an instruction in one says.")


class QueryResponse(AnswerModel):
    request_id: str
    collection: str
    conversation: Optional[ConversationModel] = Field(None, description="Set when the question named a conversation.")
    screening: Optional[ScreeningModel] = Field(
        None, description="What the injection screen found in the retrieved passages and did about it."
    )


class RetrieveResponse(BaseModel):
    request_id: str
    collection: str
    passages: list[RankedPassageModel]
    timings: dict[str, float] = Field(description="Seconds: retrieve.")
