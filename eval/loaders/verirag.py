"""verirag's own JSONL layout: ``qa.jsonl`` and/or ``halu.jsonl``, with ``corpus.jsonl`` beside them.

* ``qa.jsonl``: ``{"id", "question", "reference_answer", "reference_contexts": [...],
  "source_doc_ids": [...]}``; optional ``all_reference_answers`` and ``is_impossible`` (the right
  answer is to abstain).
* ``halu.jsonl``: ``{"id", "question" (may be null), "context", "answer",
  "label": "supported" | "unsupported"}``; optional ``doc_id``.
* ``corpus.jsonl``: ``{"id", "title", "text"}``. Without it the questions' reference contexts
  become the corpus.
"""

from __future__ import annotations

from pathlib import Path

from eval.dataset import Dataset, DatasetError, LabelledAnswer, Question, contexts_as_corpus, hash_files
from eval.loaders.common import check_unique, optional_bool, optional_str, read_jsonl, record_id, required_str, str_list
from eval.loaders.corpus import corpus_from_jsonl

QA_FILE = "qa.jsonl"
HALU_FILE = "halu.jsonl"
CORPUS_FILE = "corpus.jsonl"
LABELS = ("supported", "unsupported")


def claims(folder: Path) -> bool:
    return (folder / QA_FILE).is_file() or (folder / HALU_FILE).is_file()


def load(path: Path) -> Dataset:
    folder = path if path.is_dir() else path.parent
    if path.is_file() and path.name not in (QA_FILE, HALU_FILE):
        raise DatasetError(f"{path}: a verirag data set is a folder holding {QA_FILE} and/or {HALU_FILE}")
    qa_path, halu_path = folder / QA_FILE, folder / HALU_FILE
    if path.is_file():  # one file named: only that part
        qa_path, halu_path = (path, None) if path.name == QA_FILE else (None, path)
    questions = read_questions(qa_path) if qa_path is not None and qa_path.is_file() else []
    labelled = read_labelled(halu_path) if halu_path is not None and halu_path.is_file() else []
    if not questions and not labelled:
        raise DatasetError(f"{folder}: neither {QA_FILE} nor {HALU_FILE} holds any item")

    notes: list[str] = []
    corpus = None
    corpus_path = folder / CORPUS_FILE
    if questions and corpus_path.is_file():
        corpus, doc_ids = corpus_from_jsonl(corpus_path)
        missing = sum(1 for q in questions if q.relevant and not set(q.relevant) & doc_ids)
        if missing:
            notes.append(f"{missing} questions name source documents that are not in {CORPUS_FILE}")
    elif questions:
        corpus, questions = contexts_as_corpus(questions)
        if corpus is not None:
            notes.append(f"no {CORPUS_FILE}: the {len(corpus.records or ())} distinct reference contexts are the corpus")
        else:
            notes.append(f"no {CORPUS_FILE} and no reference contexts: the questions are asked over --collection NAME "
                         "and retrieval is judged by their source_doc_ids")
    files = [p for p in (qa_path, halu_path) if p is not None and p.is_file()]
    return Dataset(
        name=folder.name or "dataset",
        path=folder,
        format="verirag",
        questions=questions,
        labelled=labelled,
        corpus=corpus,
        content_hash=hash_files(files),
        notes=tuple(notes),
    )


def read_questions(path: Path) -> list[Question]:
    questions: list[Question] = []
    ids: list[tuple[str, int]] = []
    for line, record in read_jsonl(path):
        item_id = record_id(record, path, line)
        question = required_str(record, "question", path, line)
        reference = optional_str(record, "reference_answer", path, line)
        references = [reference] if reference else []
        for extra in str_list(record, "all_reference_answers", path, line):
            if extra and extra not in references:
                references.append(extra)
        impossible = optional_bool(record, "is_impossible", path, line)
        questions.append(
            Question(
                id=item_id,
                question=question,
                reference_answers=tuple(references),
                reference_contexts=tuple(str_list(record, "reference_contexts", path, line)),
                relevant={doc_id: 1 for doc_id in str_list(record, "source_doc_ids", path, line, ids=True)},
                answerable=None if impossible is None else not impossible,
            )
        )
        ids.append((item_id, line))
    check_unique(ids, path)
    return questions


def read_labelled(path: Path) -> list[LabelledAnswer]:
    labelled: list[LabelledAnswer] = []
    ids: list[tuple[str, int]] = []
    for line, record in read_jsonl(path):
        item_id = record_id(record, path, line)
        label = record.get("label")
        if label not in LABELS:
            raise DatasetError(f"{path}:{line}: field 'label' must be \"supported\" or \"unsupported\", got {label!r}")
        doc_id = record.get("doc_id")
        labelled.append(
            LabelledAnswer(
                id=item_id,
                question=optional_str(record, "question", path, line),
                context=required_str(record, "context", path, line),
                answer=required_str(record, "answer", path, line),
                unsupported=label == "unsupported",
                doc_id=str(doc_id) if isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool) else None,
            )
        )
        ids.append((item_id, line))
    check_unique(ids, path)
    return labelled
