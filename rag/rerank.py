"""Optional second-stage reranking: a cross-encoder reads (question, passage) pairs.

Reranking runs on the raw hits, before neighbour expansion: the cross-encoder scores the chunk
that matched, at a length it was trained on (expanded passages would be truncated by it).
No cross-encoder ships with verirag and none is ever downloaded: ``reranker_model`` is the local
path of a sentence-transformers CrossEncoder folder.
"""

from __future__ import annotations

import dataclasses
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from rag.chunk_header import chunk_header
from rag.settings import Settings
from rag.types import Passage


class RerankerError(RuntimeError):
    """The reranker model could not be loaded or run; the message names the model path."""


class Reranker(Protocol):
    def rerank(self, question: str, passages: Sequence[Passage]) -> list[Passage]:
        """The passages, best first, each with ``scores["rerank"]`` set."""
        ...


def pair_text(passage: Passage) -> str:
    """What the cross-encoder reads for a passage: the same title/section header the embedder saw."""
    header = chunk_header(passage.title, passage.section_path)
    return f"{header}\n{passage.text}" if header else passage.text


def apply_scores(passages: Sequence[Passage], scores: Sequence[float]) -> list[Passage]:
    """Attach rerank scores and sort by them, best first; ties keep the retrieval order."""
    if len(scores) != len(passages):
        raise RerankerError(f"the reranker returned {len(scores)} scores for {len(passages)} passages")
    scored = [
        dataclasses.replace(passage, scores={**passage.scores, "rerank": float(score)})
        for passage, score in zip(passages, scores)
    ]
    order = sorted(range(len(scored)), key=lambda i: -scored[i].scores["rerank"])
    return [scored[i] for i in order]


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder loaded from a local folder only.

    ``cross_encoder_cls`` is the class to instantiate (default: ``sentence_transformers.CrossEncoder``);
    anything called as ``cls(path, device=..., local_files_only=True)`` with a
    ``predict(pairs, batch_size=..., show_progress_bar=False)`` method will do.
    """

    def __init__(
        self,
        model_path: str | Path,
        device: str = "cpu",
        batch_size: int = 32,
        cross_encoder_cls: Callable[..., Any] | None = None,
    ):
        self.model_path = str(model_path)
        if not Path(self.model_path).is_dir():
            raise RerankerError(
                f"reranker model {self.model_path!r} is not a local directory; set "
                "VERIRAG_RERANKER_MODEL to the path of a sentence-transformers cross-encoder, or unset "
                "it to retrieve without reranking (verirag never downloads models)"
            )
        if cross_encoder_cls is None:
            from sentence_transformers import CrossEncoder

            cross_encoder_cls = CrossEncoder
        try:
            self.model = cross_encoder_cls(self.model_path, device=device, local_files_only=True)
        except Exception as error:  # the library raises many types for a bad folder
            raise RerankerError(f"could not load the reranker model at {self.model_path}: {error}") from error
        self.batch_size = batch_size
        self.model_id = Path(self.model_path).name
        self._lock = threading.Lock()  # torch modules are not safe to call from two threads at once

    def rerank(self, question: str, passages: Sequence[Passage]) -> list[Passage]:
        if not passages:
            return []
        pairs = [(question, pair_text(passage)) for passage in passages]
        try:
            with self._lock:
                scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        except Exception as error:
            raise RerankerError(f"the reranker at {self.model_path} failed: {error}") from error
        return apply_scores(passages, [float(s) for s in _flat(scores)])


def _flat(scores: Any) -> list[float]:
    values = scores.tolist() if hasattr(scores, "tolist") else list(scores)
    # A two-label model returns one row per pair: its last column is the "relevant" logit.
    return [v[-1] if isinstance(v, (list, tuple)) else v for v in values]


@lru_cache(maxsize=2)
def _cached_reranker(model_path: str, device: str) -> CrossEncoderReranker:
    return CrossEncoderReranker(model_path, device=device)


def load_reranker(settings: Settings) -> Reranker | None:
    """The configured reranker, loaded once per process; None when ``reranker_model`` is unset."""
    if not settings.reranker_model:  # VERIRAG_RERANKER_MODEL= (empty) also means "none"
        return None
    return _cached_reranker(settings.reranker_model, settings.embed_device)
