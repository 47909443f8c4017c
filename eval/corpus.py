"""Index a data set's corpus through the ingestion job, into a collection named after its content hash.

The collection is ``eval-<data set>-<first 12 hex of the corpus hash>``: the next run over the same
corpus finds it and the (idempotent) job writes nothing; a changed corpus gets a new collection, so
runs never mix two versions of a corpus. ``--collection NAME`` overrides the name: an existing
collection is used as it is (no indexing), a missing one is created from the corpus.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from rag.embedding import DenseEmbedder
from rag.settings import Settings
from rag.store import StoreMissingError, open_store

from eval.dataset import Corpus, Dataset, DatasetError

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


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


def ensure_collection(
    dataset: Dataset,
    settings: Settings,
    embedder: DenseEmbedder | None,
    collection: str | None = None,
    progress: bool | None = None,
) -> str:
    """The name of the collection the questions are asked over, indexed from the corpus when needed."""
    if collection is not None and collection_exists(settings, collection):
        return collection
    if dataset.corpus is None:
        raise DatasetError(
            f"{dataset.path}: the data set has no corpus (no corpus file, no reference contexts) and collection "
            f"{collection!r} does not exist; give --collection NAME of a collection that holds its documents"
            if collection
            else f"{dataset.path}: the data set has no corpus (no corpus file, no reference contexts); "
            "give --collection NAME of a collection that holds its documents"
        )
    name = collection or collection_name(dataset)
    from ingest.job import IngestJob, IngestOptions

    path = _ingest_path(dataset.corpus, settings, name)
    log.info("indexing %s (%s) into collection %r", path, dataset.corpus.origin, name)
    report = IngestJob(settings, embedder).run(IngestOptions(paths=[str(path)], collection=name, progress=progress))
    if report.failures and report.files.new + report.files.changed + report.files.unchanged == 0:
        first = report.failures[0]
        raise DatasetError(f"the corpus could not be indexed: {first.path}: {first.error}")
    for failure in report.failures:
        log.warning("corpus document not indexed: %s: %s", failure.path, failure.error)
    files = report.files
    log.info("collection %r: %d documents new, %d changed, %d unchanged, %d failed", name, files.new, files.changed,
             files.unchanged, len(report.failures))
    return name


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
