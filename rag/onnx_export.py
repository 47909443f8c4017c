"""Export the transformer of a sentence-transformers model to ONNX, once, into a cache.

sentence-transformers' own ONNX backend needs `optimum-onnx`, which pins transformers below the
version verirag installs; torch's exporter and onnxruntime's quantizer are already here. Only the
first module (the transformer, token ids → token embeddings) is exported: pooling, normalisation
and any dense head stay the model's own torch modules, so every model that sentence-transformers
can load keeps its exact post-processing.

Variants:
  ``fp32``  the same weights and arithmetic; vectors equal the torch model's to float rounding.
  ``int8``  weights of the linear layers quantized to int8 per output channel, activations
            quantized on the fly (onnxruntime dynamic quantization, ``MatMulConstBOnly``: the
            attention products stay in float). Faster on CPUs, vectors move slightly: measure
            retrieval quality before relying on it (docs/benchmarks.md).

The cache key covers the weight files, the variant and the exporter versions, so a changed model or
a new onnxruntime never reuses a stale file. Files are written to a temporary name and renamed, so
two processes exporting at once never read a half-written model.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

VARIANTS = ("fp32", "int8")
OUTPUT_NAME = "token_embeddings"


class OnnxExportError(RuntimeError):
    pass


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "verirag" / "onnx"


def exported_model(model, model_path: str, variant: str, cache_dir: Path | None = None) -> Path:
    """The ONNX file of ``model``'s transformer (a loaded ``SentenceTransformer``), exporting it
    on first use. Raises :class:`OnnxExportError` naming the model when it cannot be exported."""
    if variant not in VARIANTS:
        raise OnnxExportError(f"unknown ONNX variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    folder = Path(cache_dir or default_cache_dir()) / _cache_key(model_path, variant)
    target = folder / "model.onnx"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        _export_fp32(model, model_path, fp32)
        built = fp32
        if variant == "int8":
            built = Path(scratch) / "int8.onnx"
            quantize_int8(fp32, built)
        os.replace(built, target)
    return target


def cached_export(model_path: str, variant: str, cache_dir: Path | None = None) -> Path | None:
    """The ONNX file of the model at ``model_path`` if an earlier run exported it, else None. Needs
    neither torch nor the model loaded: a process that only encodes questions starts without them."""
    target = Path(cache_dir or default_cache_dir()) / _cache_key(model_path, variant) / "model.onnx"
    return target if target.is_file() else None


def _cache_key(model_path: str, variant: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:  # the versions as installed, read without importing torch (seconds) or onnxruntime
            return version(package)
        except PackageNotFoundError:
            return "none"

    digest = hashlib.sha256()
    digest.update(f"{variant}|torch {installed('torch')}|onnxruntime {installed('onnxruntime')}|".encode())
    root = Path(model_path)
    for path in sorted(root.glob("*.json")) + sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}|".encode())
    return f"{root.name}-{variant}-{digest.hexdigest()[:16]}"


def _export_fp32(model, model_path: str, target: Path) -> None:
    import torch

    transformer = model[0]
    network = getattr(transformer, "auto_model", None)
    output = getattr(transformer, "modality_config", {}).get("text", {}).get("method_output_name")
    if network is None or output not in (None, "last_hidden_state"):
        raise OnnxExportError(
            f"the embedding model at {model_path} does not start with a plain text transformer; "
            "set VERIRAG_EMBED_BACKEND=torch"
        )
    sample = model.preprocess(["an example sentence for tracing", "a second one"])
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs)), return_dict=True).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, OUTPUT_NAME]}
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # tracing warns about shape-dependent branches that are constant for an encoder
            warnings.simplefilter("ignore")
            torch.onnx.export(
                TokenEmbeddings(network),
                tuple(sample[name].cpu() for name in names),
                str(target),
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT-likes
            )
    except Exception as error:  # the exporter raises many types for unsupported operators
        raise OnnxExportError(
            f"could not export the embedding model at {model_path} to ONNX ({error}); "
            "set VERIRAG_EMBED_BACKEND=torch"
        ) from error
    finally:
        network.train(was_training)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of an ONNX model's linear layers (per output channel)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer advises "pre-processing" on the root logger at every export
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.setLevel(level)
