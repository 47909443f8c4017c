"""verirag's model backends and embedder, wrapped for ragas' (0.4.3) metrics.

* :class:`ProfileLLM` is a ``ragas.llms.BaseRagasLLM``: ragas' prompt goes to the judge profile
  through ``rag.backends`` (DeepSeek, any OpenAI-compatible server, or the in-process model), with the
  profile's own retries and fallback. ragas' own retry loop is set to one attempt so a failing model is
  not asked ten more times.
* :class:`DenseEmbeddings` is a ``ragas.embeddings.BaseRagasEmbeddings`` over verirag's
  :class:`~rag.embedding.DenseEmbedder` — a sentence-transformers model loaded from a local path (the
  packaged all-MiniLM-L6-v2 by default), never downloaded. (ragas' own legacy HuggingfaceEmbeddings is
  broken in 0.4.3.)

``quiet_ragas_analytics(folder)`` keeps ragas' analytics off and its ``uuid.json`` out of the user's home.
"""

from __future__ import annotations

import asyncio
import os
import threading
from functools import partial
from pathlib import Path

from langchain_core.outputs import Generation, LLMResult
from ragas.embeddings.base import BaseRagasEmbeddings
from ragas.llms.base import BaseRagasLLM
from ragas.run_config import RunConfig

from rag.backends import backend_for, generate_with_fallback
from rag.embedding import DenseEmbedder
from rag.profiles import resolve_profile
from rag.settings import Settings

_ANALYTICS_LOCK = threading.Lock()


def quiet_ragas_analytics(folder: Path) -> None:
    """ragas builds an analytics event (which reads or writes ``<XDG_DATA_HOME>/ragas/uuid.json``) for
    every score, even with ``RAGAS_DO_NOT_TRACK`` set (rag.offline sets it: nothing is sent). The user
    id is cached after the first call, so pointing XDG_DATA_HOME at ``folder`` for that one call keeps
    the file out of the user's home without changing the variable for anything else."""
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    from ragas import _analytics

    with _ANALYTICS_LOCK:
        if _analytics.get_userid.cache_info().currsize:
            return
        folder.mkdir(parents=True, exist_ok=True)
        previous = os.environ.get("XDG_DATA_HOME")
        os.environ["XDG_DATA_HOME"] = str(folder)
        try:
            _analytics.get_userid()
        finally:
            if previous is None:
                os.environ.pop("XDG_DATA_HOME", None)
            else:
                os.environ["XDG_DATA_HOME"] = previous


def judge_run_config(timeout_s: float) -> RunConfig:
    # One attempt: verirag's backends already retry with backoff and hand over to a fallback profile.
    return RunConfig(timeout=int(max(timeout_s, 1) * 4), max_retries=1, max_wait=1)


class ProfileLLM(BaseRagasLLM):
    """A ragas LLM answering with a verirag model profile. One call at a time (the in-process model
    is not safe to call from two threads); ``n`` completions are ``n`` calls."""

    def __init__(self, profile_name: str, settings: Settings):
        super().__init__(run_config=RunConfig())
        self.settings = settings
        self.profile = resolve_profile(profile_name, settings)
        self.calls = 0
        self._lock = threading.Lock()

    def _complete(self, text: str) -> tuple[str, str | None]:
        with self._lock:
            generation = generate_with_fallback(
                self.profile.name,
                lambda name: resolve_profile(name, self.settings),
                partial(backend_for, settings=self.settings),
                [{"role": "user", "content": text}],
            )
            self.calls += 1
        return generation.answer, generation.finish_reason

    def generate_text(self, prompt, n: int = 1, temperature: float = 0.01, stop=None, callbacks=None) -> LLMResult:
        text = prompt.to_string()
        generations = []
        for _ in range(max(1, n)):
            answer, finish_reason = self._complete(text)
            generations.append(Generation(text=answer, generation_info={"finish_reason": finish_reason}))
        return LLMResult(generations=[generations])

    async def agenerate_text(self, prompt, n: int = 1, temperature: float | None = 0.01, stop=None, callbacks=None):
        return await asyncio.to_thread(self.generate_text, prompt, n, temperature or 0.01, stop, callbacks)

    def is_finished(self, response: LLMResult) -> bool:
        # A completion cut by the token limit is not finished; ragas then reports the metric as failed.
        return all(
            (generation.generation_info or {}).get("finish_reason") != "length"
            for generations in response.generations
            for generation in generations
        )

    def __repr__(self) -> str:
        return f"ProfileLLM(profile={self.profile.name!r})"


class DenseEmbeddings(BaseRagasEmbeddings):
    """ragas embeddings over verirag's dense embedder (unit-length vectors)."""

    def __init__(self, embedder: DenseEmbedder):
        super().__init__()
        self.embedder = embedder
        self.run_config = RunConfig()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(list(texts)).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    def __repr__(self) -> str:
        return f"DenseEmbeddings(model={self.embedder.model_id!r})"
