"""Response body of GET /v1/usage: each key's daily quota and its model usage per UTC day."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field


class DayUsageModel(BaseModel):
    day: str = Field(description="The UTC day, YYYY-MM-DD.")
    requests: int = Field(description="Questions answered.")
    prompt_tokens: int
    completion_tokens: int = Field(description="Reasoning tokens included, as providers count them.")
    total_tokens: int = Field(description="prompt_tokens + completion_tokens: what the token quota counts.")
    cost_usd: float = Field(description="Estimated from the profiles' prices (0 for local models).")


class QuotaModel(BaseModel):
    tokens_per_day: Optional[int] = Field(description="Tokens per UTC day; null: unlimited.")
    cost_usd_per_day: Optional[float] = Field(description="Estimated USD per UTC day; null: unlimited.")
    source: Literal["key", "default"] = Field(
        description="key: the key's own quota set either limit; default: both are the server's.")


class KeyUsageModel(BaseModel):
    key_id: str = Field(description="The key's public id; `anonymous` for open mode's callers.")
    quota: QuotaModel
    today: DayUsageModel = Field(description="What the quota is checked against now.")
    days: list[DayUsageModel] = Field(description="Days with usage in the window, newest first.")


class UsageResponse(BaseModel):
    today: str = Field(description="The current UTC day.")
    resets_at: str = Field(description="When every quota resets: the next 00:00 UTC.")
    days: int = Field(description="The window asked for, in days, today included.")
    keys: list[KeyUsageModel]
