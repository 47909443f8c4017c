"""Run a sentence-transformers model's transformer with ONNX Runtime.

The transformer (token ids → token embeddings) runs in onnxruntime from the file
:mod:`rag.onnx_export` makes; the model's own later modules (pooling, normalisation, dense head)
run on its outputs, so the vectors are the model's.

Why it pays on a CPU (docs/benchmarks.md): a question or a verifier call is a handful of short
texts, where torch's per-call overhead dominates — onnxruntime encodes one question 2–3× faster
with the same weights, 3.5× with the int8 ones. Ingestion batches run side by side on one thread
each, which on a shared CPU beats torch splitting every product over threads.

Batches are bucketed by length: every text is tokenized first, then batches are cut from the texts
sorted by their token count, so a batch pads to its own longest text and little else.
"""

from __future__ import annotations

import copy
import json
import math
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.onnx_export import OUTPUT_NAME, cached_export, exported_model

# Batches run side by side on single-threaded sessions, so many small batches balance better over the
# workers than a few large ones, and sorted by length they pad little. Measured on SciFact abstracts,
# int8: batch 16 encoded 1.22× faster than batch 64 (bench/embed_backends.py, docs/benchmarks.md).
ONNX_BATCH = 16
MAX_WORKERS = 8


class OnnxTransformerRunner:
    """Encodes texts with an exported transformer and the model's pooling. Built either from a loaded
    ``SentenceTransformer`` (``from_model``: exports on first use, any post-processing) or from the model's
    folder alone (``from_folder``: needs an earlier export and plain mean/CLS pooling, and imports neither
    torch nor sentence-transformers, which cost a question-answering process seconds at start-up)."""

    def __init__(self, path: Path, tokenizer, max_length: int, pad_id: int, dimension: int, batch_size: int,
                 pooling: str | None, post_modules: Sequence = (), workers: int | None = None):
        self.path = path
        self.batch_size = batch_size
        self._post = list(post_modules)
        self._pooling = pooling
        if pooling is None and not self._post:
            raise RuntimeError(f"no pooling for the ONNX model at {path}")
        self._tokenizer = copy.deepcopy(tokenizer)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=int(max_length))
        self.max_length = int(max_length)
        self._pad_id = int(pad_id)
        self.dimension = int(dimension)
        # one session per worker, each used by one thread at a time; each holds its own copy of the
        # weights (23 MB int8, 90 MB fp32 for MiniLM), so many-core machines stop at MAX_WORKERS
        self._workers = max(1, min(workers or _usable_cores(), MAX_WORKERS))
        self._sessions: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(self._workers):
            self._sessions.put(self._new_session())
        first = self._sessions.get()
        self._inputs = [item.name for item in first.get_inputs()]
        self._sessions.put(first)

    @classmethod
    def from_model(cls, model, model_path: str, variant: str, batch_size: int, dimension: int, cache_dir=None,
                   workers=None) -> "OnnxTransformerRunner":
        """From a loaded ``SentenceTransformer``, exporting its transformer on first use."""
        path = exported_model(model, model_path, variant, cache_dir)
        backend = getattr(model.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise RuntimeError(f"the embedding model at {model_path} has no fast tokenizer")
        post = list(model)[1:]
        return cls(path, backend, int(model.max_seq_length), int(model.tokenizer.pad_token_id or 0), dimension,
                   batch_size, _numpy_pooling(post), post, workers)

    @classmethod
    def from_folder(cls, model_path: str, variant: str, batch_size: int, cache_dir=None,
                    workers=None) -> "OnnxTransformerRunner | None":
        """From the model's folder and an earlier export, or None when that is not enough (no export
        yet, no ``tokenizer.json``, or modules after the transformer that numpy does not mirror)."""
        path = cached_export(model_path, variant, cache_dir)
        plain = plain_sentence_model(Path(model_path))
        if path is None or plain is None:
            return None
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        return cls(path, tokenizer, plain.max_length, plain.pad_id(tokenizer), plain.dimension, batch_size,
                   plain.pooling, (), workers)

    @property
    def tokenizer(self):
        """The fast tokenizer it encodes with (truncating at ``max_length``, no padding)."""
        return self._tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, in the order of ``texts``."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda index: -len(encodings[index].ids))
        # at least one batch per worker, so that even a verifier call of five texts uses every core
        size = max(1, min(self.batch_size, ONNX_BATCH, math.ceil(len(order) / self._workers)))
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        vectors = np.empty((len(order), self.dimension), dtype=np.float32)

        def encode(rows: list[int]) -> None:
            session = self._sessions.get()
            try:
                vectors[rows] = self._encode_batch(session, [encodings[index] for index in rows])
            finally:
                self._sessions.put(session)

        if len(batches) == 1 or self._workers == 1:
            for rows in batches:
                encode(rows)
        else:
            # Whole batches side by side, one thread each: on a shared CPU that beats splitting every
            # matrix product over threads, which then wait on each other (docs/benchmarks.md).
            with ThreadPoolExecutor(self._workers, thread_name_prefix="onnx-embed") as pool:
                list(pool.map(encode, batches))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _encode_batch(self, session, encodings) -> np.ndarray:
        feeds = self._pad(encodings)
        tokens = session.run([OUTPUT_NAME], {name: feeds[name] for name in self._inputs})[0]
        if self._pooling is not None:
            return _pool(tokens, feeds["attention_mask"], self._pooling)
        return self._post_process(tokens, feeds)

    def _post_process(self, tokens: np.ndarray, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The model's own torch modules after the transformer, for heads numpy does not mirror."""
        import torch

        features = {
            "token_embeddings": torch.from_numpy(tokens),
            "attention_mask": torch.from_numpy(feeds["attention_mask"]),
            "input_ids": torch.from_numpy(feeds["input_ids"]),
        }
        with torch.inference_mode():
            for module in self._post:
                features = module(features)
        return features["sentence_embedding"].float().numpy()

    def _pad(self, encodings) -> dict[str, np.ndarray]:
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            ids[row, :length] = encoding.ids
            mask[row, :length] = 1
            types[row, :length] = encoding.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def _new_session(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # one thread per run: runs of different batches go side by side instead (see embed)
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        return onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PlainSentenceModel:
    """What a sentence-transformers folder of transformer → mean/CLS pooling (→ normalisation) says
    about itself in its JSON files."""

    pooling: str
    dimension: int
    max_length: int
    pad_token: str | None

    def pad_id(self, tokenizer) -> int:
        found = tokenizer.token_to_id(self.pad_token) if self.pad_token else None
        return int(found or 0)


SENTENCE_MODULES = "sentence_transformers.models."


def plain_sentence_model(folder: Path) -> PlainSentenceModel | None:
    """The folder's pooling, dimension and input length, or None when it is anything else (then the
    model is loaded and its own modules run)."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [entry["type"].removeprefix(SENTENCE_MODULES) for entry in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(kind != "Normalize" for kind in kinds[2:]):
            return None
        if not (folder / "tokenizer.json").is_file():
            return None
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
        config = json.loads((folder / "sentence_bert_config.json").read_text())
        tokenizer_config = _read_json(folder / "tokenizer_config.json")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    modes = [mode for mode in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens",
                               "weightedmean_tokens", "lasttoken") if pooling.get(f"pooling_mode_{mode}")]
    if modes not in (["mean_tokens"], ["cls_token"]) or not pooling.get("include_prompt", True):
        return None
    if config.get("do_lower_case"):  # sentence-transformers lower-cases before the tokenizer sees the text
        return None
    max_length = config.get("max_seq_length") or tokenizer_config.get("model_max_length")
    if not isinstance(max_length, int) or "word_embedding_dimension" not in pooling:
        return None
    pad = tokenizer_config.get("pad_token")
    pad = pad.get("content") if isinstance(pad, dict) else pad
    return PlainSentenceModel("mean" if modes == ["mean_tokens"] else "cls",
                              int(pooling["word_embedding_dimension"]), max_length, pad)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _numpy_pooling(modules) -> str | None:
    """``mean`` or ``cls`` when the modules after the transformer are just that pooling (and a
    normalisation, which ``embed`` applies anyway), else None. numpy does it without torch: torch's
    own thread pool made pooling a query's vectors cost as much as encoding them on a busy CPU."""
    names = [type(module).__name__ for module in modules]
    if not names or names[0] != "Pooling" or any(name != "Normalize" for name in names[1:]):
        return None
    pooling = modules[0]
    mode = getattr(pooling, "pooling_mode", None)
    if mode not in ("mean", "cls") or not getattr(pooling, "include_prompt", True):
        return None
    return mode


def _pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return tokens[:, 0, :].astype(np.float32, copy=False)
    weights = mask[:, :, None].astype(np.float32)
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
