"""OpenAI-compatible bodies: /v1/chat/completions and /v1/models.

Only what verirag uses is declared; other OpenAI fields (temperature, max_tokens, user, …) are
accepted and ignored, because the model profile decides sampling and output budget. verirag's own
fields travel as extra body fields (``extra_body`` in the SDK): collection, filters, top_k, verify,
reasoning.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from api.schemas.common import CitationModel, Filters, ReasoningChoice, VerdictModel, VerifyPolicy
from api.schemas.conversation import ConversationId, ConversationModel
from api.schemas.query import TOP_K_HARD_LIMIT, CollectionName

MODEL_PREFIX = "verirag/"


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str = Field(max_length=100_000)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = Field(None, description="Text, or a list of text parts.")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"model": "verirag/deepseek-v4-flash",
         "messages": [{"role": "user", "content": "At what speed does Unit 3 trip on overspeed?"}]},
        {"model": "verirag/deepseek-v4-flash", "stream": True, "collection": "docs",
         "messages": [{"role": "user", "content": "Which units are Francis turbines?"},
                      {"role": "assistant", "content": "Units 1 and 2 [S1]."},
                      {"role": "user", "content": "At what speed do they trip?"}]},
    ]})

    model: str = Field(min_length=1, max_length=200, description="verirag/PROFILE (a plain profile name works too).",
                       examples=["verirag/deepseek-v4-flash"])
    messages: list[ChatMessageIn] = Field(
        min_length=1, max_length=1000,
        description="The last message must be the user's question; earlier user/assistant turns are the "
        "conversation. System messages are ignored: verirag's own instructions come first.",
    )
    stream: StrictBool = False
    stream_options: Optional[StreamOptions] = None
    n: Optional[StrictInt] = Field(None, ge=1, le=1, description="Only one choice is produced.")
    collection: Optional[CollectionName] = Field(
        None, description="verirag: collection to answer from; default VERIRAG_DEFAULT_COLLECTION."
    )
    filters: Optional[Filters] = None
    top_k: Optional[StrictInt] = Field(None, ge=1, le=TOP_K_HARD_LIMIT, description="verirag: passages to retrieve.")
    verify: Optional[VerifyPolicy] = Field(None, description="verirag: verdict policy.")
    reasoning: ReasoningChoice = Field("include", description="verirag: include message.reasoning_content or omit it.")
    conversation: Optional[ConversationId] = Field(
        None, description="verirag: a conversation id (see /v1/query). The messages still carry the history; the "
        "server checks their earlier questions against the conversation's and keeps the sources of each turn.")


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: Optional[str] = Field(description="The chain of thought, as DeepSeek returns it.")


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: str
    logprobs: None = None


class ChatUsage(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: dict[str, int]
    prompt_tokens_details: dict[str, Optional[int]]
    prompt_cache_hit_tokens: Optional[int]
    prompt_cache_miss_tokens: Optional[int]


class VeriragExtras(BaseModel):
    """verirag's additions to a completion: where the answer came from and whether it holds up."""

    model_config = ConfigDict(extra="allow")

    request_id: str
    collection: str
    citations: list[CitationModel]
    unknown_citations: list[str]
    verdict: Optional[VerdictModel]
    timings: dict[str, float]
    cost_usd: float
    conversation: Optional[ConversationModel] = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    verirag: VeriragExtras


class ChatCompletionChunk(BaseModel):
    """One ``data:`` line of a streamed completion (documentation of the stream's shape)."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: Optional[ChatUsage] = None
    verirag: Optional[VeriragExtras] = Field(None, description="On the chunk that carries finish_reason.")


class ModelStatus(BaseModel):
    """verirag's extension of an OpenAI model object (OpenAI clients ignore it)."""

    default: bool = Field(description="The profile a request without a model uses.")
    provider: str = Field(examples=["local", "deepseek", "openai_compatible"])
    usable: bool = Field(description="Whether the model can answer now: its key is configured and its server "
                                     "answers, or its model file is here (checked at most every 30 s).")
    reason: str | None = Field(None, description="Why not, when it is not usable (server paths and URLs removed).")


class ModelCard(BaseModel):
    id: str = Field(examples=["verirag/local"])
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "verirag"
    verirag: ModelStatus | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
