"""A ``corpus.jsonl`` beside a data set: ``{"id" | "_id", "title", "text"}`` per line."""

from __future__ import annotations

from pathlib import Path

from eval.dataset import Corpus, DatasetError, hash_files, hash_records
from eval.loaders.common import read_jsonl, record_id, required_str


def corpus_from_jsonl(path: Path) -> tuple[Corpus, set[str]]:
    """The corpus and its document ids. The ingestion job reads ``{"id", "title", "text"}``; a BEIR copy
    keyed by ``_id`` is turned into records with ``id`` (the runner writes them out before indexing)."""
    ids: set[str] = set()
    renamed: list[dict] = []
    needs_rename = False
    for line, record in read_jsonl(path):
        doc_id = record_id(record, path, line, keys=("id", "_id"))
        required_str(record, "text", path, line, allow_empty=True)
        title = record.get("title")
        if title is not None and not isinstance(title, str):
            raise DatasetError(f"{path}:{line}: field 'title' must be a string, got {type(title).__name__}")
        if doc_id in ids:
            raise DatasetError(f"{path}:{line}: document id {doc_id!r} is used twice; ids must be unique")
        ids.add(doc_id)
        if "id" not in record:
            needs_rename = True
        renamed.append({"id": doc_id, **{k: v for k, v in record.items() if k not in ("id", "_id")}})
    if not ids:
        raise DatasetError(f"{path}: the corpus holds no documents")
    if needs_rename:
        records = tuple(renamed)
        return Corpus(origin=path.name, content_hash=hash_records(records), records=records), ids
    return Corpus(origin=path.name, content_hash=hash_files([path]), path=path), ids
