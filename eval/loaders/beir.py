"""A BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and relevance judgements.

Judgements are ``qrels.tsv`` in the folder, else ``qrels/test.tsv``, else the only ``.tsv`` under
``qrels/``: a header line, then ``query-id <tab> doc-id <tab> score``. Only judged queries are
evaluated (as BEIR does) and only judgements with a score above 0 count. BEIR has no reference
answers, so a BEIR run measures retrieval only.
"""

from __future__ import annotations

from pathlib import Path

from eval.dataset import Dataset, DatasetError, Question, hash_files
from eval.loaders.common import read_jsonl, record_id, required_str
from eval.loaders.corpus import corpus_from_jsonl

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"


def claims(folder: Path) -> bool:
    return (folder / QUERIES_FILE).is_file() and (folder / CORPUS_FILE).is_file() and qrels_path(folder) is not None


def qrels_path(folder: Path) -> Path | None:
    if (folder / "qrels.tsv").is_file():
        return folder / "qrels.tsv"
    qrels_dir = folder / "qrels"
    if (qrels_dir / "test.tsv").is_file():
        return qrels_dir / "test.tsv"
    candidates = sorted(qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
    return candidates[0] if len(candidates) == 1 else None


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                raise DatasetError(
                    f"{path}:{number}: expected three tab-separated columns (query-id, doc-id, score), got {line.strip()!r}"
                )
            query_id, doc_id, score_text = (f.strip() for f in fields[:3])
            try:
                score = int(float(score_text))
            except ValueError:
                if number == 1:
                    continue  # the header line
                raise DatasetError(f"{path}:{number}: the score {score_text!r} is not a number") from None
            if score > 0:
                qrels.setdefault(query_id, {})[doc_id] = score
    if not qrels:
        raise DatasetError(f"{path}: no relevance judgement with a score above 0")
    return qrels


def load(path: Path) -> Dataset:
    folder = path if path.is_dir() else path.parent
    judgements = qrels_path(folder)
    if judgements is None:
        raise DatasetError(
            f"{folder}: no relevance judgements: expected qrels.tsv, qrels/test.tsv or a single .tsv under qrels/"
        )
    queries_path = folder / QUERIES_FILE
    if not queries_path.is_file():
        raise DatasetError(f"{folder}: {QUERIES_FILE} is missing")
    qrels = read_qrels(judgements)
    questions: list[Question] = []
    seen: set[str] = set()
    for line, record in read_jsonl(queries_path):
        query_id = record_id(record, queries_path, line, keys=("id", "_id"))
        text = required_str(record, "text", queries_path, line)
        if query_id in seen:
            raise DatasetError(f"{queries_path}:{line}: query id {query_id!r} is used twice")
        seen.add(query_id)
        if query_id in qrels:
            questions.append(Question(id=query_id, question=text, relevant=qrels[query_id]))
    if not questions:
        raise DatasetError(f"{queries_path}: no query has a judgement in {judgements}; are the ids the same?")
    corpus, doc_ids = corpus_from_jsonl(folder / CORPUS_FILE)
    unknown = sum(1 for q in questions if not set(q.relevant) & doc_ids)
    notes = [f"{len(questions)} judged queries of {len(seen)} (judgements from {judgements.relative_to(folder)})"]
    if unknown:
        notes.append(f"{unknown} judged queries have no relevant document in {CORPUS_FILE}: they score 0")
    return Dataset(
        name=folder.name or "beir",
        path=folder,
        format="beir",
        questions=questions,
        corpus=corpus,
        retrieval_only=True,
        content_hash=hash_files([queries_path, judgements]),
        notes=tuple(notes),
    )
