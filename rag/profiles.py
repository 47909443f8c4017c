"""Model profiles are data: what a model is, where it runs and how its reasoning arrives.

Adding a model means adding a profile (built in here, or under [profiles.NAME] in verirag.toml),
never a code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Provider = Literal["deepseek", "openai_compatible", "local"]
ReasoningStyle = Literal["native", "think_tags", "prompted", "none"]


@dataclass(frozen=True)
class ModelProfile:
    name: str  # what users pass as --model
    provider: Provider
    model: str  # the model id sent to the server (or a GGUF path for "local")
    context_window: int  # tokens
    max_output_tokens: int
    reasoning_style: ReasoningStyle
    base_url: str | None = None  # None → the provider's default (DeepSeek) or settings
    api_key_env: str | None = None  # environment variable holding the key
    thinking: bool | None = None  # DeepSeek: "thinking": {"type": enabled|disabled}
    reasoning_effort: str | None = None  # DeepSeek: low | high | max
    chat_template: str = "server"  # "server": the server applies it; "llama3" for in-process
    tokenizer: str = "cl100k_base"  # token counting for budgets: tiktoken name or "gguf"
    temperature: float | None = 0.2
    price_input_per_m: float = 0.0  # USD per million prompt tokens (cache miss)
    price_cached_input_per_m: float = 0.0  # USD per million prompt tokens served from cache
    price_output_per_m: float = 0.0
    fallback: str | None = None  # profile to use when this one's backend stays unavailable
    timeout_s: float = 120.0
    max_retries: int = 3
    extra: dict = field(default_factory=dict)
