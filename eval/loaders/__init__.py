"""Data set loaders, one module per format, and the detection of a folder's format.

``load_dataset(path, format=None)`` → :class:`eval.dataset.Dataset`. Without ``format`` the files
decide, first match wins:

=============  ==============================================================================
verirag        ``qa.jsonl`` or ``halu.jsonl`` in the folder (or one of them named)
beir           ``corpus.jsonl`` + ``queries.jsonl`` + ``qrels.tsv`` / ``qrels/*.tsv``
llamaindex     a ``.json`` file holding ``{"examples": [...]}`` (LabelledRagDataset)
ragas          a ``.jsonl`` or ``.csv`` file with a ``user_input`` field (EvaluationDataset)
=============  ==============================================================================

``multihop`` is never detected (its files are verirag's): ``--format multihop`` reads a ``qa.jsonl`` whose
reference contexts are glued supporting facts (eval.loaders.multihop).
"""

from __future__ import annotations

from pathlib import Path

from eval.dataset import FORMATS, Dataset, DatasetError
from eval.loaders import beir, llamaindex, multihop, ragas, verirag

LOADERS = {"verirag": verirag.load, "beir": beir.load, "ragas": ragas.load, "llamaindex": llamaindex.load,
           "multihop": multihop.load}


def detect_format(path: Path) -> str:
    if path.is_file():
        if path.name in (verirag.QA_FILE, verirag.HALU_FILE):
            return "verirag"
        if llamaindex.is_llamaindex_file(path):
            return "llamaindex"
        if ragas.is_ragas_file(path):
            return "ragas"
        raise DatasetError(
            f"{path}: cannot tell the format of this file: expected qa.jsonl / halu.jsonl (verirag), a JSON "
            "LabelledRagDataset, or a ragas .jsonl/.csv with a user_input column; or pass --format"
        )
    if verirag.claims(path):
        return "verirag"
    if beir.claims(path):
        return "beir"
    if llamaindex.candidates(path):
        return "llamaindex"
    if ragas.candidates(path):
        return "ragas"
    present = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
    raise DatasetError(
        f"{path}: cannot tell the data set's format (found {present}); expected qa.jsonl/halu.jsonl (verirag), "
        "corpus.jsonl + queries.jsonl + qrels (beir), a LabelledRagDataset .json (llamaindex) or a ragas "
        ".jsonl/.csv; or pass --format"
    )


def load_dataset(path: Path | str, format: str | None = None) -> Dataset:
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    path = path.resolve()
    if format is not None and format not in FORMATS:
        raise DatasetError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    return LOADERS[format or detect_format(path)](path)


__all__ = ["FORMATS", "LOADERS", "detect_format", "load_dataset"]
