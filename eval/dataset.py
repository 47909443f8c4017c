"""What every loader produces: questions, labelled answers and (maybe) a corpus, in one shape.

A data set has up to two parts:

* ``questions`` — end-to-end (or retrieval-only) items: a question, the reference answer(s), the
  reference contexts and the documents judged relevant to it. ``answerable=False`` marks questions
  whose right answer is to abstain (SQuAD 2.0's ``is_impossible``).
* ``labelled`` — answers already written and labelled supported / unsupported against one context
  (``halu.jsonl``): what the verifier is measured on.

``corpus`` says where the documents the questions are asked over come from; the runner indexes it
(eval.corpus). Loaders validate their input and raise :class:`DatasetError` naming the file, the
line and the field that is wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

FORMATS = ("verirag", "beir", "ragas", "llamaindex", "multihop")
CONTEXTS_ORIGIN = "reference contexts"  # Corpus.origin of a corpus made of the questions' reference contexts


class DatasetError(ValueError):
    """The data set cannot be read; the message names the file, line and field to fix."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    reference_answers: tuple[str, ...] = ()  # the first is the reference; all count for string metrics
    reference_contexts: tuple[str, ...] = ()
    relevant: Mapping[str, int] = field(default_factory=dict)  # doc_id → relevance grade (> 0)
    answerable: bool | None = None  # False: the right answer is to abstain; None: not marked
    # The data set's own relevant document ids (source_doc_ids, reference_context_ids) when ``relevant``
    # was replaced by the ids of the reference contexts indexed as the corpus (contexts_as_corpus): a
    # --collection that holds the data set's documents is judged by these (eval.corpus.choose_relevance).
    source_relevant: Mapping[str, int] = field(default_factory=dict)

    @property
    def reference_answer(self) -> str | None:
        return self.reference_answers[0] if self.reference_answers else None


@dataclass(frozen=True)
class LabelledAnswer:
    """An answer labelled against the one context it must be supported by."""

    id: str
    question: str | None
    context: str
    answer: str
    unsupported: bool  # the label: True when the answer is not supported by the context
    doc_id: str | None = None


@dataclass(frozen=True)
class Corpus:
    """The documents to index: a corpus.jsonl or a folder the ingestion job reads as it is, or
    records ({"id", "title", "text"}) the runner writes to a corpus.jsonl first."""

    origin: str  # for people: "corpus.jsonl", "reference contexts", "source_files/"
    content_hash: str  # sha256 of the content: names the collection, so an unchanged corpus is reused
    path: Path | None = None
    records: tuple[dict, ...] | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.records is None):
            raise ValueError("a Corpus has either a path or records, not both")


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    format: str
    questions: Sequence[Question]
    labelled: Sequence[LabelledAnswer] = ()
    corpus: Corpus | None = None
    retrieval_only: bool = False  # no reference answers at all (BEIR): nothing to generate
    content_hash: str = ""  # sha256 over the item files: part of a run's fingerprint
    notes: tuple[str, ...] = ()  # what the loader decided that a reader should know


def hash_files(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def hash_folder(root: Path) -> str:
    """Content of every non-hidden file under ``root`` with its relative path (what ingest reads)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode("utf-8") + b"\0")
        digest.update(hash_files([path]).encode("ascii"))
    return digest.hexdigest()


def hash_records(records: Sequence[Mapping]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def context_doc_id(text: str) -> str:
    """A stable document id for a context that arrives without one."""
    return "ctx-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def contexts_as_corpus(questions: Sequence[Question]) -> tuple[Corpus | None, list[Question]]:
    """No corpus given: every distinct reference context becomes a document, and each question's
    relevant documents are its own contexts (ids from the data set name documents that are not
    indexed, so they cannot be judged against; they are kept as ``source_relevant`` for a
    ``--collection`` that holds those documents). Without any reference context there is no corpus
    and the questions keep the data set's ids as they are: only a ``--collection`` can be asked."""
    records: dict[str, dict] = {}
    updated: list[Question] = []
    for question in questions:
        ids = []
        for text in question.reference_contexts:
            doc_id = context_doc_id(text)
            records.setdefault(doc_id, {"id": doc_id, "title": "", "text": text})
            ids.append(doc_id)
        updated.append(replace(question, relevant={doc_id: 1 for doc_id in ids}, source_relevant=dict(question.relevant)))
    if not records:
        return None, list(questions)
    ordered = tuple(records.values())
    return Corpus(origin=CONTEXTS_ORIGIN, content_hash=hash_records(ordered), records=ordered), updated
