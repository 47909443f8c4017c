"""Multi-hop questions judged by their supporting facts: every fact is a document of one shared corpus.

The layout is verirag's ``qa.jsonl`` (``halueval-qa`` is one: its questions are HotpotQA's), but each
``reference_contexts`` string there is two or more supporting facts glued together without a space
after the full stop ("…in the 19th century.First for Women is…"). This loader splits them back into
facts (:func:`split_facts`), makes every distinct fact of every question its own document (one corpus
for all the questions, so a question competes with every other question's facts), and judges each
question by all of its facts: ``retrieval.all_recalled@k`` says whether *every* fact came back in the
top k — what a question that needs two lookups needs.

``--format multihop`` selects it (a folder with ``qa.jsonl`` is otherwise read as the verirag format).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from eval.dataset import Corpus, Dataset, DatasetError, Question, context_doc_id, hash_files, hash_records
from eval.loaders.verirag import QA_FILE, read_questions

# A fact boundary: a full stop (or ? !) with no space after it, followed by the capital, digit, bracket or
# opening quote that starts the next fact. A capital before the stop must meet a capitalised word after it
# ("…in the USA.First…"), so abbreviations ("D.C.", "U.S.A.") stay whole; a digit before it must not meet
# a digit after it (decimals: "104.9"); a quote after it must open a word (not close a quotation).
_BOUNDARY = re.compile(
    r"(?<=[^\sA-Z0-9][.!?])(?=[A-Z0-9(]|[\"“'][^\s.,;])"
    r"|(?<=[0-9][.!?])(?=[A-Z(]|[\"“'][^\s.,;])"
    r"|(?<=[A-Z][.!?])(?=[A-Z][a-z])"
)
# A piece ending in one of these was cut after an abbreviation ("Leipzig e.V.", "(; lit.Ta…", "Jr.The"):
# it is joined to the next piece again.
_ABBREVIATION_END = re.compile(r"(?:^|[^A-Za-z])(?:[A-Za-z]|lit|ca|Jr|Sr|Prof|Dr|St|Mr|Mrs|Ms|vs|www|S\.p)\.$")


def split_facts(context: str) -> list[str]:
    """The supporting facts a reference context string holds, in order, stripped, none empty."""
    facts: list[str] = []
    carry = ""
    for piece in _BOUNDARY.split(context):
        piece = carry + piece
        if _ABBREVIATION_END.search(piece.rstrip()):
            carry = piece
            continue
        carry = ""
        if piece.strip():
            facts.append(piece.strip())
    if carry.strip():
        facts.append(carry.strip())
    return facts


def fact_doc_id(fact: str) -> str:
    return context_doc_id(fact).replace("ctx-", "fact-", 1)


def load(path: Path) -> Dataset:
    folder = path if path.is_dir() else path.parent
    qa_path = path if path.is_file() else folder / QA_FILE
    if not qa_path.is_file():
        raise DatasetError(f"{folder}: a multihop data set is a folder holding {QA_FILE} (or that file named)")
    questions = read_questions(qa_path)
    if not questions:
        raise DatasetError(f"{qa_path}: holds no questions")
    records: dict[str, dict] = {}
    judged: list[Question] = []
    without = 0
    for question in questions:
        facts = [fact for context in question.reference_contexts for fact in split_facts(context)]
        if not facts:
            without += 1
        ids = []
        for fact in facts:
            doc_id = fact_doc_id(fact)
            records.setdefault(doc_id, {"id": doc_id, "title": "", "text": fact})
            ids.append(doc_id)
        judged.append(replace(question, relevant=dict.fromkeys(ids, 1), source_relevant=dict(question.relevant)))
    ordered = tuple(records.values())
    multi = sum(1 for q in judged if len(q.relevant) >= 2)
    notes = [(f"{len(ordered)} distinct supporting facts of {len(judged)} questions are the corpus, one document each; "
              f"{multi} questions have two or more facts")]
    if without:
        notes.append(f"{without} questions have no reference context: nothing to judge their retrieval by")
    return Dataset(
        name=f"{folder.name or 'dataset'}-facts",
        path=folder,
        format="multihop",
        questions=judged,
        corpus=Corpus(origin="supporting facts of the reference contexts", content_hash=hash_records(ordered),
                      records=ordered),
        content_hash=hash_files([qa_path]),
        notes=tuple(notes),
    )
