"""One question, start to finish: retrieve → screen → prompt → generate → verify → policy → result.

The screen (rag.passage_screen, ``injection_policy``) reads the retrieved passages for text aimed at the
model before any of them reaches the prompt: it marks or drops what it flags, the verifier never takes a
flagged span as evidence, and the result lists what was flagged (``screening``).

The verifier plugs in through :class:`Verifier` (``pipeline_for`` wires the configured one); without one
the result carries no verdict. Hooks (rag.pipeline_hooks) see each stage — retrieval, generation,
verification — and may rewrite the retrieved passages: the API's deadlines and public sources, the
evaluation's rank recorder and the OpenTelemetry spans (rag.tracing) plug in there. The verdict policy (``rag.verify.policy``) runs here because a retry needs
the model: accept, flag (warnings), retry once with the verifier's feedback, or abstain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Iterator, Mapping, Protocol, Sequence

from rag.backends import backend_for, generate_with_fallback, stream_with_fallback
from rag.citations import Citation, resolve_citations
from rag.embedding import DenseEmbedder
from rag.passage_screen import Screening, ScreeningReport, screen_passages
from rag.pipeline_hooks import PipelineHook, stages
from rag.profiles import ModelProfile, estimate_cost, resolve_profile
from rag.prompts import Prompt, build_prompt
from rag.retrieval import Retriever, retriever_for
from rag.settings import Settings
from rag.store import FieldFilter, VectorStore
from rag.types import Generation, Passage, Usage
from rag.verify.policy import abstention_text, better, check_policy, feedback_message, fully_supported, warnings_for
from rag.verify.verdict import Verdict


class Verifier(Protocol):
    def verify(self, question: str, passages: Sequence[Passage], generation: Generation) -> Verdict: ...


class PromptLayout(Protocol):
    """Lays out one turn's prompt instead of ``build_prompt`` (a conversation's: rag.conversation.ChatLayout)."""

    def prompt(self, profile: ModelProfile, passages: Sequence[Passage], question: str) -> Prompt: ...


@dataclass(frozen=True)
class AnswerRequest:
    question: str
    model: str | None = None  # profile name; None → settings.default_model
    top_k: int | None = None
    filters: Sequence[FieldFilter] = ()
    fusion: str | None = None
    history: Sequence[Mapping[str, Any]] = ()  # earlier turns, OpenAI chat format
    verify: str | None = None  # verdict policy: accept | flag | retry | abstain; None → settings.verify_policy
    layout: PromptLayout | None = None  # a conversation's prompt layout; None → build_prompt with ``history``
    retrieval_query: str | None = None  # what retrieval searches for (a rewritten follow-up); None → question


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
    verdict: Verdict | None = None
    # the model's answer when the abstain policy replaced it, or its first draft when a retry replaced that
    replaced_answer: str | None = None
    screening: ScreeningReport | None = None  # what the injection screen flagged in the retrieved passages

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
            "verdict": self.verdict.to_dict() if self.verdict is not None else None,
            "replaced_answer": self.replaced_answer,
            "screening": self.screening.to_dict() if self.screening is not None else None,
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
        hooks: Sequence[PipelineHook] = (),
    ):
        from rag.tracing import tracing_hooks

        self.settings = settings
        self.store = store
        self.retriever = retriever or retriever_for(settings, store, embedder)
        self.verifier = verifier
        self.hooks: list[PipelineHook] = [*tracing_hooks(), *hooks]

    def profile(self, name: str | None) -> ModelProfile:
        """The named profile (the default model for None), as the settings define it."""
        return resolve_profile(name, self.settings)

    def retrieve(self, request: AnswerRequest) -> list[Passage]:
        with stages(self.hooks, "retrieval"):
            search = self.retriever.retrieve
            if self.settings.multistep == "decompose":  # sub-questions retrieved apart, merged (rag.multistep)
                from rag.multistep.decompose import retrieve_decomposed

                search = partial(retrieve_decomposed, self.retriever)
            passages = search(
                request.retrieval_query or request.question,
                top_k=request.top_k or self.settings.retrieval_top_k,
                filters=request.filters,
                fusion=request.fusion or self.settings.fusion,
            )
            for hook in self.hooks:
                passages = hook.retrieved(passages)
        return passages

    def _generate(self, model: str, messages: Sequence[Mapping[str, Any]]) -> Generation:
        with stages(self.hooks, "generation"):
            return generate_with_fallback(model, self.profile, partial(backend_for, settings=self.settings), messages)

    def _verify(self, question: str, passages: Sequence[Passage], generation: Generation) -> Verdict:
        assert self.verifier is not None
        with stages(self.hooks, "verification"):
            return self.verifier.verify(question, passages, generation)

    def screen(self, passages: list[Passage]) -> Screening:
        """The retrieved passages through the injection screen, under the configured policy."""
        return screen_passages(passages, self.settings.injection_policy)

    def prompt(self, request: AnswerRequest, passages: list[Passage], profile: ModelProfile) -> Prompt:
        if request.layout is not None:
            return request.layout.prompt(profile, passages, request.question)
        return build_prompt(profile, passages, request.question, request.history)

    def uses_search_tool(self, profile: ModelProfile) -> bool:
        """Whether this profile is offered the search tool (settings ``multistep``, ``search_tool_max_calls``).
        ``auto`` offers it only where the backend can carry tool turns; ``tools`` insists, and the loop then
        says what to change when it cannot."""
        from rag.multistep.strategy import strategy_for

        if strategy_for(self.settings, profile) != "tools":
            return False
        return self.settings.multistep == "tools" or hasattr(self._backend(profile), "generate_turn")

    def _backend(self, profile: ModelProfile) -> Any:
        return backend_for(profile, settings=self.settings)

    def _search_tool(self, request: AnswerRequest, profile: ModelProfile, prompt: Prompt, screening: Screening,
                     stream: bool) -> Iterator[tuple[str, Any]]:
        from rag.multistep.tool_loop import pipeline_search_events

        return pipeline_search_events(self, self._backend(profile), request, profile, prompt, screening,
                                      stream=stream)

    def policy(self, request: AnswerRequest) -> str:
        return check_policy(request.verify or self.settings.verify_policy)

    def answer(self, request: AnswerRequest) -> AnswerResult:
        self.policy(request)  # a bad policy fails before any work
        timings: dict[str, float] = {}
        started = time.perf_counter()
        passages = self.retrieve(request)
        timings["retrieve"] = time.perf_counter() - started
        profile = self.profile(request.model)
        screening = self.screen(passages)
        prompt = self.prompt(request, screening.passages, profile)
        started = time.perf_counter()
        if self.uses_search_tool(profile):  # the model may search again before it answers (rag.multistep)
            with stages(self.hooks, "generation"):
                for _, done in self._search_tool(request, profile, prompt, screening, stream=False):
                    prompt, generation, screening, _searches = done
        else:
            generation = self._generate(profile.name, prompt.messages)
        timings["generate"] = time.perf_counter() - started
        return self._finish(request, prompt, generation, timings, screening)

    def stream(self, request: AnswerRequest) -> Iterator[tuple[str, Any]]:
        """Events: ("retrieval", passages) → ("reasoning", text)… → ("answer", text)… → ("verification",
        verdict) when a verifier is set → ("done", result). A retry or an abstention replaces the streamed
        answer: the result in "done" is the one to keep."""
        self.policy(request)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        passages = self.retrieve(request)
        timings["retrieve"] = time.perf_counter() - started
        profile = self.profile(request.model)
        screening = self.screen(passages)
        prompt = self.prompt(request, screening.passages, profile)
        yield "retrieval", prompt.passages
        started = time.perf_counter()
        generation: Generation | None = None
        with stages(self.hooks, "generation"):
            if self.uses_search_tool(profile):
                events = self._search_tool(request, profile, prompt, screening, stream=True)
            else:
                events = stream_with_fallback(
                    profile.name, self.profile, partial(backend_for, settings=self.settings), prompt.messages
                )
            for kind, payload in events:
                if kind == "done" and isinstance(payload, tuple):  # the search tool's: every source, the chat
                    prompt, generation, screening, _searches = payload
                elif kind == "done":
                    generation = payload
                else:
                    yield kind, payload
        timings["generate"] = time.perf_counter() - started
        assert generation is not None, "a backend stream always ends with done"
        result = self._finish(request, prompt, generation, timings, screening)
        if result.verdict is not None:
            yield "verification", result.verdict
        yield "done", result

    def _verify_and_act(
        self, request: AnswerRequest, prompt: Prompt, generation: Generation, timings: dict,
        evidence: Sequence[Passage] | None = None,
    ) -> tuple[Generation, Verdict, str | None]:
        """(the generation to return, its verdict with the policy's action, the replaced answer if any).
        ``evidence``: the prompt's passages as the verifier may read them (default: as the model read them)."""
        policy = self.policy(request)
        evidence = prompt.passages if evidence is None else evidence
        started = time.perf_counter()
        verdict = self._verify(request.question, evidence, generation)
        timings["verify"] = time.perf_counter() - started
        if fully_supported(verdict) or policy == "accept":
            return generation, verdict.with_policy("accept", warnings_for(verdict) if policy != "accept" else ()), None
        if policy == "flag":
            return generation, verdict.with_policy("flag", warnings_for(verdict)), None
        if policy == "abstain":
            if verdict.label != "unsupported":
                return generation, verdict.with_policy("flag", warnings_for(verdict)), None
            text = abstention_text(verdict, prompt.passages)
            replaced = Generation(generation.reasoning, text, generation.usage, generation.finish_reason, generation.model)
            return replaced, verdict.with_policy("abstain", warnings_for(verdict)), generation.answer
        # retry: once, with the verifier's findings; keep the better answer, record both verdicts.
        messages = [*prompt.messages, {"role": "assistant", "content": generation.answer},
                    {"role": "user", "content": feedback_message(verdict)}]
        started = time.perf_counter()
        second = self._generate(generation.model or request.model or self.settings.default_model, messages)
        timings["retry_generate"] = time.perf_counter() - started
        started = time.perf_counter()
        second_verdict = self._verify(request.question, evidence, second)
        timings["retry_verify"] = time.perf_counter() - started
        both = generation.usage + second.usage
        if better(verdict, second_verdict):
            kept = Generation(second.reasoning, second.answer, both, second.finish_reason, second.model)
            kept_verdict = second_verdict.with_policy("retry", warnings_for(second_verdict), previous=verdict)
            # The first draft is what the second attempt replaced: kept for a reader who asks to see it.
            return kept, kept_verdict, generation.answer
        kept = Generation(generation.reasoning, generation.answer, both, generation.finish_reason, generation.model)
        return kept, verdict.with_policy("retry", warnings_for(verdict), previous=second_verdict), None

    def _finish(self, request: AnswerRequest, prompt: Prompt, generation: Generation, timings: dict,
                screening: Screening | None = None) -> AnswerResult:
        verdict = None
        replaced = None
        if self.verifier is not None:
            evidence = screening.evidence(prompt.passages) if screening is not None else None
            generation, verdict, replaced = self._verify_and_act(request, prompt, generation, timings, evidence)
        citations, unknown = resolve_citations(generation.answer, prompt.passages)
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
            replaced_answer=replaced,
            screening=screening.report(prompt.passages, generation.answer) if screening is not None else None,
        )



def pipeline_for(settings: Settings, store: VectorStore, embedder: DenseEmbedder | None = None,
                 hooks: Sequence[PipelineHook] = ()) -> Pipeline:
    """The pipeline the settings describe: retrieval, the configured models and the verifier."""
    from rag.verify.verifier import verifier_for

    retriever = retriever_for(settings, store, embedder)
    return Pipeline(settings, store, verifier=verifier_for(settings, retriever.embedder), retriever=retriever,
                    hooks=hooks)
