"""One question, start to finish: retrieve → prompt → generate → (verify) → result.

The verifier plugs in through :class:`Verifier`; without one the result carries no verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Iterator, Mapping, Protocol, Sequence

from rag.backends import backend_for, generate_with_fallback, stream_with_fallback
from rag.citations import Citation, resolve_citations
from rag.embedding import DenseEmbedder
from rag.profiles import ModelProfile, estimate_cost, resolve_profile
from rag.prompts import Prompt, build_prompt
from rag.retrieval import Retriever, retriever_for
from rag.settings import Settings
from rag.store import FieldFilter, VectorStore
from rag.types import Generation, Passage, Usage


class Verifier(Protocol):
    def verify(self, question: str, passages: Sequence[Passage], generation: Generation) -> Any: ...


@dataclass(frozen=True)
class AnswerRequest:
    question: str
    model: str | None = None  # profile name; None → settings.default_model
    top_k: int | None = None
    filters: Sequence[FieldFilter] = ()
    fusion: str | None = None
    history: Sequence[Mapping[str, Any]] = ()  # earlier turns, OpenAI chat format


@dataclass
class AnswerResult:
    question: str
    answer: str
    reasoning: str
    model: str  # the profile that answered (a fallback may have stepped in)
    citations: list[Citation]
    unknown_citations: list[str]  # [S#] labels that name no given passage
    passages: list[Passage]
    usage: Usage
    cost_usd: float
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens_estimate: int = 0
    passages_dropped: int = 0
    finish_reason: str | None = None
    verdict: Any = None

    def to_dict(self, include_reasoning: bool = True) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "reasoning": self.reasoning if include_reasoning else None,
            "model": self.model,
            "citations": [
                {"label": c.label, "doc_id": c.doc_id, "source": c.source, "title": c.title, "page": c.page,
                 "pages": list(c.pages), "char_start": c.char_start, "char_end": c.char_end, "text": c.text}
                for c in self.citations
            ],
            "unknown_citations": self.unknown_citations,
            "passages": [p.to_dict() for p in self.passages],
            "usage": usage_dict(self.usage),
            "cost_usd": round(self.cost_usd, 6),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "prompt_tokens_estimate": self.prompt_tokens_estimate,
            "passages_dropped": self.passages_dropped,
            "finish_reason": self.finish_reason,
            "verdict": self.verdict.to_dict() if hasattr(self.verdict, "to_dict") else self.verdict,
        }


def usage_dict(usage: Usage) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cache_hit_tokens": usage.cache_hit_tokens,
        "cache_miss_tokens": usage.cache_miss_tokens,
    }


class Pipeline:
    """Answers questions over one open collection. Reuse it: models load once."""

    def __init__(
        self,
        settings: Settings,
        store: VectorStore,
        embedder: DenseEmbedder | None = None,
        verifier: Verifier | None = None,
        retriever: Retriever | None = None,
    ):
        self.settings = settings
        self.store = store
        self.retriever = retriever or retriever_for(settings, store, embedder)
        self.verifier = verifier

    def profile(self, name: str | None) -> ModelProfile:
        """The named profile (the default model for None), as the settings define it."""
        return resolve_profile(name, self.settings)

    def retrieve(self, request: AnswerRequest) -> list[Passage]:
        return self.retriever.retrieve(
            request.question,
            top_k=request.top_k or self.settings.retrieval_top_k,
            filters=request.filters,
            fusion=request.fusion or self.settings.fusion,
        )

    def prompt(self, request: AnswerRequest, passages: list[Passage], profile: ModelProfile) -> Prompt:
        return build_prompt(profile, passages, request.question, request.history)

    def answer(self, request: AnswerRequest) -> AnswerResult:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        passages = self.retrieve(request)
        timings["retrieve"] = time.perf_counter() - started
        profile = self.profile(request.model)
        prompt = self.prompt(request, passages, profile)
        started = time.perf_counter()
        generation = generate_with_fallback(
            profile.name, self.profile, partial(backend_for, settings=self.settings), prompt.messages
        )
        timings["generate"] = time.perf_counter() - started
        return self._finish(request, prompt, generation, timings)

    def stream(self, request: AnswerRequest) -> Iterator[tuple[str, Any]]:
        """Events: ("retrieval", passages) → ("reasoning", text)… → ("answer", text)… → ("done", result)."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        passages = self.retrieve(request)
        timings["retrieve"] = time.perf_counter() - started
        profile = self.profile(request.model)
        prompt = self.prompt(request, passages, profile)
        yield "retrieval", prompt.passages
        started = time.perf_counter()
        generation: Generation | None = None
        for kind, payload in stream_with_fallback(
            profile.name, self.profile, partial(backend_for, settings=self.settings), prompt.messages
        ):
            if kind == "done":
                generation = payload
            else:
                yield kind, payload
        timings["generate"] = time.perf_counter() - started
        assert generation is not None, "a backend stream always ends with done"
        yield "done", self._finish(request, prompt, generation, timings)

    def _finish(self, request: AnswerRequest, prompt: Prompt, generation: Generation, timings: dict) -> AnswerResult:
        citations, unknown = resolve_citations(generation.answer, prompt.passages)
        verdict = None
        if self.verifier is not None:
            started = time.perf_counter()
            verdict = self.verifier.verify(request.question, prompt.passages, generation)
            timings["verify"] = time.perf_counter() - started
        answered_by = self.profile(generation.model) if generation.model else self.profile(request.model)
        return AnswerResult(
            question=request.question,
            answer=generation.answer,
            reasoning=generation.reasoning,
            model=generation.model,
            citations=citations,
            unknown_citations=unknown,
            passages=prompt.passages,
            usage=generation.usage,
            cost_usd=estimate_cost(answered_by, generation.usage),
            timings=timings,
            prompt_tokens_estimate=prompt.prompt_tokens,
            passages_dropped=prompt.dropped,
            finish_reason=generation.finish_reason,
            verdict=verdict,
        )
