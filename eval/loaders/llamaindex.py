"""A LlamaIndex ``LabelledRagDataset`` saved as JSON (``rag_dataset.json`` on LlamaHub):
``{"examples": [{"query", "reference_contexts": [...], "reference_answer", "query_by", …}]}``.

The corpus is, in this order: a ``source_files/`` folder beside the JSON (how LlamaHub ships its
data sets; ingested like any folder), a ``corpus.jsonl`` beside it, or the reference contexts. With
``source_files/`` no document is marked relevant (the examples carry only context text), so the
id-based retrieval metrics are left out and the text-based context metrics remain.
"""

from __future__ import annotations

from pathlib import Path

from eval.dataset import Corpus, Dataset, DatasetError, Question, contexts_as_corpus, hash_files, hash_folder
from eval.loaders.common import read_json, required_str, str_list
from eval.loaders.corpus import corpus_from_jsonl

SOURCE_FILES = "source_files"
CORPUS_FILE = "corpus.jsonl"


def is_llamaindex_file(path: Path) -> bool:
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return '"examples"' in head


def candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if is_llamaindex_file(p))


def load(path: Path) -> Dataset:
    if path.is_dir():
        found = candidates(path)
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise DatasetError(
                f"{path}: expected one LabelledRagDataset JSON file (an object with \"examples\"), found {names}"
            )
        path = found[0]
    data = read_json(path)
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list):
        raise DatasetError(f"{path}: expected a JSON object with an \"examples\" list (LabelledRagDataset.save_json)")
    questions: list[Question] = []
    for index, example in enumerate(examples):
        where = Path(f"{path} examples[{index}]")
        if not isinstance(example, dict):
            raise DatasetError(f"{where}: expected an object, got {type(example).__name__}")
        reference = example.get("reference_answer")
        if reference is not None and not isinstance(reference, str):
            raise DatasetError(f"{where}: field 'reference_answer' must be a string, got {type(reference).__name__}")
        questions.append(
            Question(
                id=f"{index:05d}",
                question=required_str(example, "query", where, None),
                reference_answers=(reference,) if reference else (),
                reference_contexts=tuple(str_list(example, "reference_contexts", where, None)),
            )
        )
    if not questions:
        raise DatasetError(f"{path}: \"examples\" is empty")

    notes: list[str] = []
    corpus: Corpus | None
    source_files = path.parent / SOURCE_FILES
    if source_files.is_dir():
        corpus = Corpus(origin=f"{SOURCE_FILES}/", content_hash=hash_folder(source_files), path=source_files)
        notes.append(f"corpus from {SOURCE_FILES}/: no document ids are labelled, so nDCG/Recall/MRR are not computed")
    elif (path.parent / CORPUS_FILE).is_file():
        corpus, _ = corpus_from_jsonl(path.parent / CORPUS_FILE)
    else:
        corpus, questions = contexts_as_corpus(questions)
        if corpus is not None:
            notes.append(f"no corpus beside the file: the {len(corpus.records or ())} distinct reference contexts are the corpus")
    return Dataset(
        name=path.parent.name or path.stem,
        path=path,
        format="llamaindex",
        questions=questions,
        corpus=corpus,
        content_hash=hash_files([path]),
        notes=tuple(notes),
    )
