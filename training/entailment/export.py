"""Export the trained cross-encoder to int8 ONNX, the form verirag ships and runs.

Writes ``model.onnx`` (logits for supported / not supported / contradicted), ``tokenizer.json`` and a
first ``verirag.json`` (labels, input length); ``calibrate.py`` then adds the temperature and the
decision thresholds.

    python -m training.entailment.export --model .verirag/training/nli-model --out models/verirag-nli-minilm-l6
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rag.onnx_export import quantize_int8
from rag.verify.entailment import ENTAILMENT_LABELS, SHIPPED_MODEL


def export(model_dir: Path, out: Path, max_length: int) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if tuple(labels) != ENTAILMENT_LABELS:
        raise SystemExit(f"{model_dir} has labels {labels}, expected {list(ENTAILMENT_LABELS)}")
    sample = tokenizer(["a premise sentence", "another one"], ["a claim", "a second claim"],
                       return_tensors="pt", padding=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Logits(model), tuple(sample[n] for n in names), str(fp32), input_names=names,
                              output_names=["logits"], opset_version=17, dynamo=False,
                              dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "logits": {0: "batch"}})
        quantize_int8(fp32, out / "model.onnx")
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    for name in ("vocab.txt",):
        if (model_dir / name).exists():
            shutil.copy(model_dir / name, out / name)
    meta_path = out / "verirag.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update({"name": SHIPPED_MODEL, "labels": labels, "max_length": max_length,
                 "base": "sentence-transformers/all-MiniLM-L6-v2"})
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out / 'model.onnx'} ({(out / 'model.onnx').stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(".verirag/training/nli-model"))
    parser.add_argument("--out", type=Path, default=Path("models") / SHIPPED_MODEL)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    export(args.model, args.out, args.max_length)


if __name__ == "__main__":
    main()
