"""Request and response bodies of POST /v1/verify: a given answer checked against given passages.

Hard bounds live in the schema; the configured ones (VERIRAG_API_MAX_QUESTION_CHARS for the question,
VERIRAG_API_MAX_TOP_K for the number of passages, VERIRAG_API_MAX_BODY_KB for the whole body) are checked
by the route. The rules the schema cannot say (blank texts, labels used twice) are ``rag.verify.given``'s, so
``verirag verify --input`` refuses the same bodies.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from rag.verify.given import LABEL_PATTERN

from api.schemas.common import VerdictModel
from api.schemas.query import QUESTION_HARD_LIMIT, TOP_K_HARD_LIMIT

TEXT_HARD_LIMIT = 200_000  # characters of one passage, the answer or the trace (the body limit binds first)
FIELD_HARD_LIMIT = 2_000  # doc_id, source, title

EXAMPLE = {
    "question": "At what speed does Unit 3 trip on overspeed?",
    "passages": [
        {"text": "Unit 3 (Kaplan) trips on overspeed at 287.5 rpm; Units 1 and 2 trip at 410 rpm.",
         "doc_id": "oncall_runbook.md", "source": "docs/oncall_runbook.md", "page": 2},
        {"text": "The Unit 3 governor was upgraded to firmware 5.4 in June 2024."},
    ],
    "answer": "Unit 3 trips on overspeed at 287.5 rpm [S1].",
    "reasoning": "S1 lists the trip speeds per unit.",
}


class VerifyPassage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=TEXT_HARD_LIMIT, description="The passage the answer was given.")
    label: Optional[str] = Field(
        None, pattern=LABEL_PATTERN,
        description="Its [S#] label, as the answer cites it; default S1…Sn in the order given.",
    )
    doc_id: Optional[str] = Field(None, max_length=FIELD_HARD_LIMIT, description="Echoed in the evidence.")
    source: Optional[str] = Field(None, max_length=FIELD_HARD_LIMIT, description="Echoed in the evidence.")
    title: Optional[str] = Field(None, max_length=FIELD_HARD_LIMIT)
    page: Optional[StrictInt] = Field(None, ge=1, le=10_000_000, description="Echoed in the evidence.")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    question: Optional[str] = Field(
        None, max_length=QUESTION_HARD_LIMIT,
        description="The question the answer answers (optional; helps with short answers and abstentions). "
                    "At most VERIRAG_API_MAX_QUESTION_CHARS characters.",
    )
    passages: list[VerifyPassage] = Field(
        min_length=1, max_length=TOP_K_HARD_LIMIT,
        description="The sources the answer was written from; at most VERIRAG_API_MAX_TOP_K (50).",
    )
    answer: str = Field(
        min_length=1, max_length=TEXT_HARD_LIMIT, description="The answer to check, with its [S#] citations."
    )
    reasoning: Optional[str] = Field(
        None, max_length=TEXT_HARD_LIMIT,
        description="The model's reasoning trace, checked too (statements about a source against that source).",
    )
    policy: Optional[Literal["accept", "flag"]] = Field(
        None, description="accept (the verdict only) or flag (with warnings); default VERIRAG_VERIFY_POLICY, "
                          "flag when that is retry or abstain (they need a model).",
    )
    require_citations: StrictBool = Field(
        True, description="A factual answer sentence without an [S#] citation counts as uncited.",
    )


class VerifyResponse(BaseModel):
    request_id: str
    verdict: VerdictModel = Field(description="The verifier's verdict, as /v1/query returns it under verdict.")
    timings: dict[str, float] = Field(description="Seconds: verify.")
