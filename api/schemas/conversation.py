"""The conversation id a question may carry, and what a response says about its conversation."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

CONVERSATION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

ConversationId = Annotated[str, Field(
    pattern=CONVERSATION_PATTERN,
    description="A conversation id of your choosing (1 to 128 letters, digits, '_', '.', ':' or '-'; a UUID "
    "works). The first question under a new id starts the conversation; the server keeps its turns and "
    "sources (per key) until VERIRAG_API_CONVERSATION_TTL_S after its last question, and lays out each "
    "follow-up's prompt after the previous one, so the provider's prefix cache serves it.",
    examples=["3f1c2a9e-support-chat"],
)]


class ConversationModel(BaseModel):
    """Where this answer stands in its conversation."""

    id: str
    turn: int = Field(description="This question's number in the conversation (1 for the first).")
    expires_at: float = Field(description="Unix time after which the conversation is forgotten, unless asked again.")
    retrieval_query: str | None = Field(
        description="What retrieval searched for when the follow-up was rewritten from the previous turn "
        "(VERIRAG_FOLLOWUP_REWRITE); null when it searched the question as asked.")
    new_sources: list[str] = Field(description="Labels of the sources this turn sent for the first time.")
    sources_given_before: list[str] = Field(
        description="Labels of retrieved sources an earlier turn had sent (named, not sent again).")
    dropped_turns: int = Field(description="Oldest turns left out of the prompt for room at this question.")
