"""A ragas ``EvaluationDataset`` saved with ``to_jsonl`` or ``to_csv``: single-turn samples.

Columns read: ``user_input`` (the question, required), ``reference`` (the reference answer),
``reference_contexts`` and ``reference_context_ids``. A sample's ``response`` and
``retrieved_contexts`` are another system's output: verirag answers the questions itself, so they are
not read. Items are numbered by position (or take an ``id`` column when there is one).

The corpus is a ``corpus.jsonl`` beside the file when there is one (relevance from
``reference_context_ids``); otherwise the reference contexts themselves.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from eval.dataset import Dataset, DatasetError, Question, contexts_as_corpus, hash_files
from eval.loaders.common import check_unique, first_record, list_cell, optional_str, read_jsonl, required_str, str_list
from eval.loaders.corpus import corpus_from_jsonl

SUFFIXES = (".jsonl", ".csv")
CORPUS_FILE = "corpus.jsonl"


def is_ragas_file(path: Path) -> bool:
    if path.suffix == ".jsonl" and path.name != CORPUS_FILE:
        record = first_record(path)
        return record is not None and "user_input" in record
    if path.suffix == ".csv":
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle), [])
        except (OSError, UnicodeDecodeError):
            return False
        return "user_input" in header
    return False


def candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES and is_ragas_file(p))


def load(path: Path) -> Dataset:
    if path.is_dir():
        found = candidates(path)
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise DatasetError(
                f"{path}: expected one ragas file (.jsonl or .csv with a user_input column), found {names}; "
                "pass the file itself as --dataset"
            )
        path = found[0]
    rows = _csv_rows(path) if path.suffix == ".csv" else _jsonl_rows(path)
    questions: list[Question] = []
    ids: list[tuple[str, int]] = []
    for position, (line, record) in enumerate(rows, start=1):
        if isinstance(record.get("user_input"), list):
            raise DatasetError(f"{path}:{line}: multi-turn samples (user_input is a list) are not supported")
        item_id = str(record["id"]) if record.get("id") not in (None, "") else f"{position:05d}"
        reference = optional_str(record, "reference", path, line)
        questions.append(
            Question(
                id=item_id,
                question=required_str(record, "user_input", path, line),
                reference_answers=(reference,) if reference else (),
                reference_contexts=tuple(record.get("reference_contexts") or ()),
                relevant={doc_id: 1 for doc_id in record.get("reference_context_ids") or ()},
            )
        )
        ids.append((item_id, line))
    if not questions:
        raise DatasetError(f"{path}: the file holds no samples")
    check_unique(ids, path)

    notes = []
    corpus_path = path.parent / CORPUS_FILE
    if corpus_path.is_file():
        corpus, _ = corpus_from_jsonl(corpus_path)
    else:
        corpus, questions = contexts_as_corpus(questions)
        if corpus is not None:
            notes.append(f"no {CORPUS_FILE}: the {len(corpus.records or ())} distinct reference contexts are the corpus")
    return Dataset(
        name=path.stem if path.parent.name in ("", ".") else f"{path.parent.name}-{path.stem}",
        path=path,
        format="ragas",
        questions=questions,
        corpus=corpus,
        content_hash=hash_files([path]),
        notes=tuple(notes),
    )


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    for line, record in read_jsonl(path):
        for key in ("reference_contexts",):
            record[key] = str_list(record, key, path, line)
        record["reference_context_ids"] = str_list(record, "reference_context_ids", path, line, ids=True)
        yield line, record


def _csv_rows(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror or error})") from error
    with handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "user_input" not in reader.fieldnames:
            raise DatasetError(f"{path}: the header has no user_input column (got {reader.fieldnames})")
        for row in reader:
            line = reader.line_num
            record: dict = {key: value for key, value in row.items() if key is not None}
            for key in ("reference_contexts", "reference_context_ids"):
                record[key] = list_cell(record.get(key) or "", key, path, line)
            for key in ("reference",):
                if record.get(key) == "":
                    record[key] = None
            yield line, record
