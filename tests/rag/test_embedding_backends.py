"""The ONNX Runtime embedding backends against the torch model they are exported from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.embedding import DenseEmbedder, EmbeddingModelError, resolve_backend
from rag.onnx_export import OnnxExportError, exported_model
from rag.settings import Settings

TEXTS = [
    "The overspeed trip of Unit 3 is set at 287.5 rpm.",
    "",
    "Delhi",
    "Swimming in the reservoir is forbidden. " * 60,  # longer than the model reads: truncated alike
    *[f"Maintenance note {i}: the guide bearing of unit {i % 4} was inspected." for i in range(40)],
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def torch_embedder():
    return DenseEmbedder(backend="torch")


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir):
    return DenseEmbedder(backend="onnx", cache_dir=cache_dir)


def test_onnx_vectors_equal_the_torch_model(torch_embedder, onnx_embedder):
    expected = torch_embedder.embed(TEXTS)
    got = onnx_embedder.embed(TEXTS)  # > 16 texts: batches run side by side, order must hold
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # float32 normalisation: ~1e-7
    # Same weights in float32, other kernels (summation order differs by CPU): measured cosine 0.9999999;
    # 1e-4 below 1 holds on any CPU and still catches a wrong token or pooling.
    assert (expected * got).sum(axis=1).min() > 0.9999
    single = onnx_embedder.embed_query(TEXTS[0])  # the one-text path
    assert float(single @ expected[0]) > 0.9999


def test_int8_vectors_stay_close_and_rank_alike(torch_embedder, cache_dir):
    int8 = DenseEmbedder(backend="onnx-int8", cache_dir=cache_dir)
    expected = torch_embedder.embed(TEXTS)
    got = int8.embed(TEXTS)
    # int8 weights and per-batch int8 activations: the error depends on the CPU's kernel (AVX2 without
    # VNNI saturates u8×s8 products). Measured min cosine 0.970 on an AMD EPYC with AVX2, no VNNI.
    assert (expected * got).sum(axis=1).min() > 0.95
    question = "At what speed does the turbine trip?"
    assert int(np.argmax(got @ int8.embed_query(question))) == int(np.argmax(expected @ torch_embedder.embed_query(question))) == 0


def test_the_export_is_cached_per_model_and_variant(onnx_embedder, cache_dir):
    first = onnx_embedder._onnx.path
    modified = first.stat().st_mtime_ns
    again = DenseEmbedder(backend="onnx", cache_dir=cache_dir)._onnx.path
    assert again == first and first.stat().st_mtime_ns == modified  # not exported twice
    assert DenseEmbedder(backend="onnx-int8", cache_dir=cache_dir)._onnx.path.parent != first.parent
    assert not [p for p in first.parent.iterdir() if p.name != "model.onnx"]  # no scratch files left


def test_backend_choice():
    assert resolve_backend("auto", "cpu") == "onnx-int8"
    assert resolve_backend("auto", "cuda") == "torch"
    assert resolve_backend("onnx-int8", "cpu") == "onnx-int8"
    with pytest.raises(EmbeddingModelError, match="VERIRAG_EMBED_BACKEND=torch"):
        resolve_backend("onnx", "cuda:0")
    with pytest.raises(EmbeddingModelError, match="unknown embedding backend 'tensorrt'"):
        resolve_backend("tensorrt", "cpu")
    with pytest.raises(ValueError, match="embed_backend"):
        Settings(embed_backend="tensorrt")


def test_a_model_that_cannot_be_exported_says_what_to_do(tmp_path):
    class NotATransformer:
        def __getitem__(self, index):
            return object()

    with pytest.raises(OnnxExportError, match="VERIRAG_EMBED_BACKEND=torch"):
        exported_model(NotATransformer(), str(tmp_path), "fp32", tmp_path / "cache")
    with pytest.raises(OnnxExportError, match="unknown ONNX variant"):
        exported_model(NotATransformer(), str(tmp_path), "fp16", tmp_path / "cache")


def test_numpy_pooling_equals_the_models_own_modules(onnx_embedder):
    runner = onnx_embedder._onnx
    assert runner._pooling == "mean"  # MiniLM: mean pooling, then normalisation
    fast = onnx_embedder.embed(TEXTS[:8])
    runner._pooling = None  # the model's torch modules instead
    try:
        generic = onnx_embedder.embed(TEXTS[:8])
    finally:
        runner._pooling = "mean"
    assert np.allclose(fast, generic, atol=1e-5)  # the same float32 outputs pooled twice: ~1e-7 apart


def test_a_cached_export_encodes_without_loading_the_model(onnx_embedder, cache_dir):
    light = DenseEmbedder(backend="onnx", cache_dir=cache_dir)
    assert light._model is None  # the export and tokenizer.json were enough
    assert light._onnx.path == onnx_embedder._onnx.path
    assert np.array_equal(light.embed(TEXTS), onnx_embedder.embed(TEXTS))  # same file, same tokens
    assert (light.dimension, light.max_tokens) == (onnx_embedder.dimension, onnx_embedder.max_tokens)
    assert [light.count_tokens(text) for text in TEXTS] == [onnx_embedder.count_tokens(text) for text in TEXTS]


def test_a_process_that_only_encodes_questions_never_imports_torch(onnx_embedder, cache_dir):
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rag.embedding import DenseEmbedder\n"
        f"DenseEmbedder(backend='onnx', cache_dir=Path({str(cache_dir)!r})).embed_query('At what speed?')\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_models_that_numpy_does_not_mirror_are_loaded(tmp_path):
    import json
    import shutil

    from rag.embedding import default_model_path
    from rag.onnx_encoder import plain_sentence_model

    source = default_model_path()
    assert plain_sentence_model(Path(source)).pooling == "mean"
    folder = tmp_path / "model"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    modules = json.loads((folder / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    assert plain_sentence_model(folder) is None  # a dense head: its torch module must run
    modules.pop(2)
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256, "do_lower_case": True}))
    assert plain_sentence_model(folder) is None  # lower-casing happens before the tokenizer
