"""The collection a run asks its questions over: indexed from the data set's corpus, or the user's.

**A collection eval indexes** — ``eval-<data set>-<first 12 hex of the corpus hash>``, or a
``--collection NAME`` that did not exist when eval first indexed this corpus into it — gets the
incremental ingestion job run on it by *every* run, before any question is asked (see
:func:`prepare_collection` for why the job and not a completeness record). A run stopped while it
indexed (Ctrl-C, ``kill -9``) leaves part of the corpus written; the next run writes the rest and
only then evaluates, so it measures what an uninterrupted run measures. A changed corpus gets a new
collection, so runs never mix two versions of a corpus.

**A user's collection** — ``--collection NAME`` that existed before (eval did not create it for this
corpus) — is used as it is: nothing is written to it. It is checked instead: the documents the run
expects (the corpus's, or those the questions name as relevant when there is no corpus) are counted
in it, one exact count on the ``doc_id`` payload index per document, and a missing one makes a loud
warning (stderr, ``results.json``'s ``run.warnings``, the reports) with the count.

**What retrieval is judged against** (:func:`choose_relevance`): the data set's document ids (BEIR
qrels, ``source_doc_ids``, ``reference_context_ids``), or — when the reference contexts were indexed
as the corpus — the contexts' own ids. A ``--collection`` that holds the data set's documents rather
than its reference contexts is judged by the data set's ids.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from rag.embedding import DenseEmbedder
from rag.settings import Settings
from rag.store import FieldFilter, StoreMissingError, open_store

from eval.dataset import CONTEXTS_ORIGIN, Corpus, Dataset, DatasetError, Question

if TYPE_CHECKING:
    from ingest.report import IngestReport

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
SHOWN_IDS = 5  # missing document ids named in a warning

# Relevance bases (Relevance.basis, the run configuration's "relevance").
BY_DOC_IDS = "doc_ids"  # the data set's own ids: qrels, source_doc_ids, reference_context_ids
BY_CONTEXTS = "reference_contexts"  # the ids of the reference contexts indexed as the corpus


def slug(name: str) -> str:
    """A data set's name as it may appear in a collection or folder name."""
    return _UNSAFE.sub("-", name).strip("-.")[:80] or "dataset"


def collection_name(dataset: Dataset) -> str:
    assert dataset.corpus is not None
    return f"eval-{slug(dataset.name)}-{dataset.corpus.content_hash[:12]}"


def collection_exists(settings: Settings, name: str) -> bool:
    try:
        open_store(settings, name).close()
    except StoreMissingError:
        return False
    return True


# -- which documents are there -----------------------------------------------------------------


def corpus_doc_ids(corpus: Corpus) -> list[str]:
    """The doc_ids the ingestion job gives the corpus's documents (its own discovery, so the same ids)."""
    if corpus.records is not None:
        return [str(record["id"]) for record in corpus.records]
    from ingest.sources import discover

    assert corpus.path is not None
    return [source.doc_id for source in discover([corpus.path]).sources]


def missing_documents(settings: Settings, collection: str, doc_ids: Iterable[str], limit: int | None = None) -> list[str]:
    """The ids among ``doc_ids`` with no point in the collection (the first ``limit`` of them).

    One exact ``count`` filtered on the indexed ``doc_id`` payload field per document: the cost grows
    with the documents asked about, not with the size of the collection (a shared collection may hold
    millions of points; nothing is scrolled). On the embedded store ≈ 0.06 ms a document (2,000 in
    0.12 s on the 2-core development machine), plus ≈ 0.3 s to open and close the collection."""
    missing: list[str] = []
    with open_store(settings, collection) as store:
        for doc_id in dict.fromkeys(doc_ids):
            if store.count([FieldFilter("doc_id", doc_id)]) == 0:
                missing.append(doc_id)
                if limit is not None and len(missing) >= limit:
                    break
    return missing


# -- collections eval indexed --------------------------------------------------------------------


def _owner_file(settings: Settings, collection: str) -> Path:
    return settings.data_dir / "eval" / "collections" / f"{slug(collection)}.json"


def indexed_by_eval(settings: Settings, collection: str, corpus: Corpus | None) -> bool:
    """Whether eval created ``--collection NAME`` to index this very corpus into it (so it keeps
    indexing it: an interrupted first run must converge there too)."""
    if corpus is None:
        return False
    path = _owner_file(settings, collection)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("collection") == collection and \
        record.get("corpus_hash") == corpus.content_hash


def _record_owner(settings: Settings, collection: str, dataset: Dataset) -> None:
    assert dataset.corpus is not None
    path = _owner_file(settings, collection)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"collection": collection, "corpus_hash": dataset.corpus.content_hash,
                                     "dataset": str(dataset.path)}) + "\n", encoding="utf-8")
    temporary.replace(path)


# -- relevance -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relevance:
    basis: str | None  # BY_DOC_IDS, BY_CONTEXTS, or None when no question names a relevant document
    questions: tuple[Question, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def choose_relevance(
    dataset: Dataset, questions: Sequence[Question], settings: Settings, collection: str, given: bool
) -> Relevance:
    """Which ids a question's ranking is judged against, for the collection it is asked over.

    Without a corpus file the reference contexts are indexed as the corpus and each question's own
    contexts are its relevant documents. A ``--collection`` the user built holds the data set's
    documents under their own ids instead: unless it holds every reference context (eval made it from
    them), its rankings are judged by the questions' ``source_doc_ids`` / ``reference_context_ids``.
    Without any relevant document retrieval cannot be scored, and the run says so loudly."""
    corpus = dataset.corpus
    derived = corpus is not None and corpus.origin == CONTEXTS_ORIGIN
    basis = BY_CONTEXTS if derived else BY_DOC_IDS
    chosen = tuple(questions)
    notes: list[str] = []
    if (
        derived
        and given
        and any(q.source_relevant for q in chosen)
        and collection_exists(settings, collection)
        and not indexed_by_eval(settings, collection, corpus)
        and missing_documents(settings, collection, corpus_doc_ids(corpus), limit=1)  # type: ignore[arg-type]
    ):
        chosen = tuple(replace(q, relevant=dict(q.source_relevant)) for q in chosen)
        basis = BY_DOC_IDS
        notes.append(f"collection {collection!r} does not hold the data set's reference contexts: retrieval is judged "
                     "by the questions' own document ids (source_doc_ids / reference_context_ids)")
    judged = sum(1 for q in chosen if q.relevant)
    warnings: list[str] = []
    if chosen and not judged:
        warnings.append(
            "retrieval is not scored (no nDCG, Recall or MRR): no question names a relevant document — the data set has "
            "no qrels, source_doc_ids or reference_context_ids"
            + (" and no reference contexts" if corpus is None else "")
            + ", so no retrieved document can be judged relevant"
        )
        basis = None
    elif judged < len(chosen):
        notes.append(f"{len(chosen) - judged} of {len(chosen)} questions name no relevant document: they are left out "
                     "of the retrieval metrics")
    return Relevance(basis, chosen, tuple(notes), tuple(warnings))


# -- preparing the collection ----------------------------------------------------------------------


@dataclass
class CollectionState:
    name: str
    indexed: bool  # the ingestion job ran on it in this run (a collection eval indexes)
    written: int = 0  # documents the job wrote (new or changed): the collection changed since any earlier run
    expected: int | None = None  # documents counted in the collection (None: not counted)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def prepare_collection(
    dataset: Dataset,
    questions: Sequence[Question],
    basis: str | None,
    settings: Settings,
    collection: str,
    given: bool,
    embedder: Callable[[], DenseEmbedder],
    progress: bool | None = None,
) -> CollectionState:
    """Make the collection the questions are asked over ready, and say what it lacks.

    A collection eval indexes (the hashed one, or a ``--collection`` eval created for this corpus)
    gets the incremental ingestion job **every run**, rather than a record of "indexing completed"
    checked on later runs. Why:

    * the job is already the convergence mechanism: it compares each document's hash (and point count)
      with what the collection holds and writes only what is absent, changed or half-written, so from
      *any* state — a run killed after 535 of 5,183 documents, a document that failed last time, a
      document someone deleted, a data directory copied mid-run — it ends in the state of an
      uninterrupted run. A completeness record would be a second source of truth that goes stale the
      moment anything else writes to the collection, and would itself need to be written crash-safely
      after the job;
    * when nothing is missing it is cheap: unchanged documents are skipped before parsing, and no model
      is loaded (the embedder is only asked for when there is something to write). Measured on the
      2-core development machine under load (load average 6–7; /tmp script timing ``IngestJob.run`` five
      times on a collection already complete): a no-op rerun over an 80-document corpus takes
      0.38–0.47 s and over 2,000 documents (2,185 points) 0.46–1.35 s (median 0.61 s), most of it
      opening and closing the embedded collection (0.3–0.5 s) — against 14 s and 290 s to index them,
      and minutes to evaluate them.

    ``written`` > 0 tells the caller that items evaluated by an earlier run saw another collection.

    A user's collection (``--collection NAME`` that existed and that eval did not create for this
    corpus) is used as it is and checked: the corpus's documents — or, judged by the data set's ids
    without a corpus of its own, the documents the questions name as relevant — are counted in it and
    any missing one becomes a warning with the count.
    """
    corpus = dataset.corpus
    exists: bool | None = None  # asked only when it decides something (opening a collection costs ≈ 0.3 s)
    if corpus is not None and (
        not given or indexed_by_eval(settings, collection, corpus) or not (exists := collection_exists(settings, collection))
    ):
        if given:
            _record_owner(settings, collection, dataset)  # before writing: an interrupted run resumes here
        report = _index(corpus, settings, collection, embedder, progress)
        state = CollectionState(collection, indexed=True, written=report.files.new + report.files.changed)
        if report.failures:
            ids = corpus_doc_ids(corpus)
            state.expected, state.missing = len(ids), missing_documents(settings, collection, ids)
            if state.missing:
                first = report.failures[0]
                state.warnings.append(
                    f"{len(state.missing)} of the {len(ids)} documents of the corpus ({corpus.origin}) are not in "
                    f"collection {collection!r}: the ingestion job could not index them (first: {first.path}: "
                    f"{first.error}; e.g. {_shown(state.missing)}). Retrieval cannot find them, so its metrics are "
                    "measured against an incomplete corpus; the next run tries them again."
                )
        return state
    if exists is None:
        exists = collection_exists(settings, collection)
    if not exists:
        raise DatasetError(
            f"{dataset.path}: the data set has no corpus (no corpus file, no reference contexts) and collection "
            f"{collection!r} does not exist; give --collection NAME of a collection that holds its documents"
        )
    state = CollectionState(collection, indexed=False)
    if corpus is not None and not (corpus.origin == CONTEXTS_ORIGIN and basis == BY_DOC_IDS):
        ids, what = corpus_doc_ids(corpus), f"documents of the data set's corpus ({corpus.origin})"
    else:
        ids = list(dict.fromkeys(doc_id for q in questions for doc_id in q.relevant))
        what = "documents the questions name as relevant (source_doc_ids / qrels / reference_context_ids)"
    if not ids:
        state.notes.append(f"collection {collection!r} is used as it is; no document id to check it against")
        return state
    state.expected, state.missing = len(ids), missing_documents(settings, collection, ids)
    if state.missing:
        state.warnings.append(
            f"collection {collection!r} is missing {len(state.missing)} of the {len(ids)} {what} "
            f"(e.g. {_shown(state.missing)}). Retrieval can never return them, so the retrieval metrics and the "
            "answers are measured against an incomplete collection. Index them into it "
            + (f"(verirag ingest {corpus.path} --collection {collection}) " if corpus is not None and corpus.path else "")
            + "or run without --collection."
        )
    else:
        state.notes.append(f"collection {collection!r} is used as it is; it holds all {len(ids)} {what}")
    return state


def _shown(doc_ids: Sequence[str]) -> str:
    shown = ", ".join(repr(doc_id) for doc_id in doc_ids[:SHOWN_IDS])
    return shown + (", …" if len(doc_ids) > SHOWN_IDS else "")


def _index(
    corpus: Corpus, settings: Settings, collection: str, embedder: Callable[[], DenseEmbedder], progress: bool | None
) -> "IngestReport":
    from ingest.job import IngestJob, IngestOptions

    class Job(IngestJob):
        """The run's embedder, loaded only if there is something to write."""

        @property
        def embedder(self) -> DenseEmbedder:
            if self._embedder is None:
                self._embedder = embedder()
            return self._embedder

    path = _ingest_path(corpus, settings, collection)
    log.info("indexing %s (%s) into collection %r", path, corpus.origin, collection)
    report = Job(settings).run(IngestOptions(paths=[str(path)], collection=collection, progress=progress))
    if report.failures and report.files.new + report.files.changed + report.files.unchanged == 0:
        first = report.failures[0]
        raise DatasetError(f"the corpus could not be indexed: {first.path}: {first.error}")
    for failure in report.failures:
        log.warning("corpus document not indexed: %s: %s", failure.path, failure.error)
    files = report.files
    log.info("collection %r: %d documents new, %d changed, %d unchanged, %d failed (%.2f s)", collection, files.new,
             files.changed, files.unchanged, len(report.failures), report.seconds)
    return report


def _ingest_path(corpus: Corpus, settings: Settings, collection: str) -> Path:
    """What the job reads: the corpus as it is, or its records written once as a corpus.jsonl."""
    if corpus.path is not None:
        return corpus.path
    target = settings.data_dir / "eval" / "corpora" / collection / "corpus.jsonl"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in corpus.records or ():
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        temporary.replace(target)
    return target
