"""The entailment model: reads a claim and its evidence together and says supported / not supported /
contradicted, with probabilities.

Two kinds of model, one interface (``EntailmentModel.probabilities(pairs)`` → an ``(n, 3)`` array in the
order of ``ENTAILMENT_LABELS``):

- **the shipped model** (default): ``models/verirag-nli-minilm-l6/``, a cross-encoder fine-tuned from
  all-MiniLM-L6-v2 (``training/entailment``), as int8 ONNX with its tokenizer and a ``verirag.json``
  that holds the label order, the input length, the calibration temperature and the decision thresholds;
- **any Hugging Face sequence-classification cross-encoder** named by ``entailment_model``
  (``VERIRAG_ENTAILMENT_MODEL``): a local folder, or a hub id when the user has switched the project's
  offline default off. ``entailment_labels`` maps the model's own label names to ours
  (e.g. ``{"entailment": "supported", "neutral": "not_supported", "contradiction": "contradicted"}``);
  a binary model maps its "not entailed" label to ``not_supported``. Without a map the model's
  ``id2label`` names are matched by the common NLI words.

Models are loaded once per process and shared; ONNX Runtime sessions and the tokenizer are thread-safe
for inference. A model that cannot be loaded raises ``EntailmentModelError`` naming the path and what
to do; the verifier then reports it rather than silently judging without the model.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

ENTAILMENT_LABELS = ("supported", "not_supported", "contradicted")
SHIPPED_MODEL = "verirag-nli-minilm-l6"
# Model label names (lower-cased) → ours, for models that come without a label map in the settings.
_COMMON_LABEL_NAMES = {
    "entailment": "supported", "entailed": "supported", "supported": "supported", "consistent": "supported",
    "neutral": "not_supported", "not_entailment": "not_supported", "non-entailment": "not_supported",
    "not_supported": "not_supported", "unsupported": "not_supported", "hallucinated": "not_supported",
    "inconsistent": "not_supported",
    "contradiction": "contradicted", "contradicted": "contradicted", "refuted": "contradicted",
}


class EntailmentModelError(RuntimeError):
    """The entailment model could not be loaded or run; the message names the model and the fix."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Thresholds on calibrated probabilities: supported when P(supported) ≥ ``supported``,
    contradicted when P(contradicted) ≥ ``contradicted``, not supported when P(supported) ≤
    ``not_supported``; between them the model is undecided."""

    supported: float = 0.5
    contradicted: float = 0.5
    not_supported: float = 0.5


class EntailmentModel(Protocol):
    name: str
    decision: Decision

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """``pairs`` are (evidence, claim); returns an (n, 3) array of probabilities in the order of
        ``ENTAILMENT_LABELS``."""
        ...


def shipped_model_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "models" / SHIPPED_MODEL


def _softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / max(temperature, 1e-6)
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def _columns(id2label: Mapping[int, str], label_map: Mapping[str, str] | None) -> list[int]:
    """For each of the model's outputs, the index of our label it adds to."""
    mapping = {k.lower(): v for k, v in (label_map or {}).items()}
    columns = []
    for index in range(len(id2label)):
        name = str(id2label[index]).lower()
        ours = mapping.get(name) or (None if mapping else _COMMON_LABEL_NAMES.get(name))
        if ours not in ENTAILMENT_LABELS:
            raise EntailmentModelError(
                f"the entailment model's label {id2label[index]!r} maps to none of {list(ENTAILMENT_LABELS)}: "
                "set entailment_labels (VERIRAG_ENTAILMENT_LABELS) to a JSON map of the model's labels to ours")
        columns.append(ENTAILMENT_LABELS.index(ours))
    return columns


def _fold(probs: np.ndarray, columns: list[int]) -> np.ndarray:
    out = np.zeros((probs.shape[0], len(ENTAILMENT_LABELS)), dtype=np.float32)
    for source, target in enumerate(columns):
        out[:, target] += probs[:, source]
    return out


class OnnxEntailmentModel:
    """A cross-encoder exported to ONNX, with ``tokenizer.json`` and ``verirag.json`` beside it."""

    def __init__(self, folder: Path, threads: int | None = None):
        import onnxruntime
        from tokenizers import Tokenizer

        meta = json.loads((folder / "verirag.json").read_text())
        self.name = meta.get("name", folder.name)
        self.max_length = int(meta.get("max_length", 256))
        self.temperature = float(meta.get("temperature", 1.0))
        self.decision = Decision(**meta.get("thresholds", {}))
        self._columns = _columns(dict(enumerate(meta["labels"])), None)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Spinning threads wait for work by burning a core: on a busy 2-core machine that made 5 pairs take
        # 1.0 s instead of 0.66 s. Sleeping costs a little latency on an idle machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def token_count(self, text: str) -> int:
        """Model tokens of ``text`` (no special tokens): to decide whether a passage fits whole."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _encode(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        rows = []
        for evidence, claim in pairs:
            first = self._tokenizer.encode(evidence, add_special_tokens=False).ids
            second = self._tokenizer.encode(claim, add_special_tokens=False).ids
            room = self.max_length - 3
            second = second[: max(room // 2, room - len(first))]  # the claim keeps at least half
            first = first[: room - len(second)]
            rows.append((first, second))
        cls, sep = self._tokenizer.token_to_id("[CLS]"), self._tokenizer.token_to_id("[SEP]")
        width = max(len(a) + len(b) + 3 for a, b in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for i, (a, b) in enumerate(rows):
            seq = [cls, *a, sep, *b, sep]
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1
            types[i, len(a) + 2: len(seq)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {k: v for k, v in feeds.items() if k in self._inputs}

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """The model's raw outputs (before temperature and softmax), in its own label order."""
        return self._session.run(None, self._encode(pairs))[0].astype(np.float64)

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros((0, len(ENTAILMENT_LABELS)), dtype=np.float32)
        return _fold(_softmax(self.logits(pairs), self.temperature), self._columns)


class TransformersEntailmentModel:
    """Any Hugging Face sequence-classification model (DeBERTa-v3 NLI, a hallucination evaluation
    model …), run with torch."""

    def __init__(self, path: str, label_map: Mapping[str, str] | None = None, device: str = "cpu",
                 max_length: int = 512):
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(path)
            self._model = AutoModelForSequenceClassification.from_pretrained(path).to(device).eval()
        except (OSError, ValueError) as exc:
            raise EntailmentModelError(
                f"cannot load the entailment model {path!r}: {exc}. Set VERIRAG_ENTAILMENT_MODEL to the local "
                "folder of a sequence-classification model (verirag never downloads one unless you set "
                "HF_HUB_OFFLINE=0)") from exc
        self.name = Path(path).name or path
        self.device = device
        self.max_length = max_length
        self.decision = Decision()
        self._columns = _columns(self._model.config.id2label, label_map)

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        import torch

        if not pairs:
            return np.zeros((0, len(ENTAILMENT_LABELS)), dtype=np.float32)
        encoded = self._tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True,
                                  max_length=self.max_length, padding=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            logits = self._model(**encoded).logits.float().cpu().numpy()
        return _fold(_softmax(logits.astype(np.float64)), self._columns)


_LOADED: dict[tuple, EntailmentModel] = {}
_LOCK = threading.Lock()


def load_entailment_model(path: str | None = None, label_map: Mapping[str, str] | None = None,
                          device: str = "cpu") -> EntailmentModel:
    """The model at ``path`` (default: the shipped one), loaded once per process.

    A folder with ``verirag.json`` and ``model.onnx`` runs on ONNX Runtime; any other folder (or hub id)
    is loaded with transformers."""
    key = (path, tuple(sorted((label_map or {}).items())), device)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        folder = Path(path).expanduser() if path else shipped_model_dir()
        if (folder / "verirag.json").is_file() and (folder / "model.onnx").is_file():
            model: EntailmentModel = OnnxEntailmentModel(folder)
        elif path is None:
            raise EntailmentModelError(
                f"the shipped entailment model is missing from {folder}: reinstall verirag from its repository, "
                "set VERIRAG_ENTAILMENT_MODEL to another model's folder, or turn the layer off with "
                "VERIRAG_VERIFY_ENTAILMENT=false")
        elif not folder.exists() and ("/" not in path or path.startswith((".", "/", "~"))
                                      or os.environ.get("HF_HUB_OFFLINE", "1") != "0"):
            raise EntailmentModelError(
                f"VERIRAG_ENTAILMENT_MODEL={path!r}: no such folder. Point it at the local folder of a "
                "sequence-classification model, or unset it to use the shipped model")
        else:
            model = TransformersEntailmentModel(path, label_map, device)
        _LOADED[key] = model
        return model
