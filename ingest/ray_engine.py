"""`verirag ingest --engine ray`: the ingest job as a Ray Data pipeline, for corpora one process outgrows.

Same semantics as the local job (ingest.job), by construction: :class:`RayIngestJob` *is* an
:class:`~ingest.job.IngestJob` whose write step runs on Ray. Discovery, the plan (new / changed /
unchanged / removed, by document hash, made once on the driver against the collection), ``--dry-run``,
``--strict``, ``--prune`` and the report are the local job's own code. Only the middle moves:

- parse + chunk: Ray tasks (``Dataset.map``) calling :func:`ingest.job.prepare_document`, each worker
  process with its own isolated parse worker and tokenizer (loaded once per process);
- embed: an actor pool (``map_batches`` with :class:`_EmbedBatches`, which loads the encoder once per
  actor, on a GPU when the actor was given one) calling :func:`ingest.job.document_points`;
- write: with a Qdrant server (``VERIRAG_QDRANT_URL``) the actors upsert their batch and then delete
  the batch's stale points themselves; with the embedded store (one process owns it) the points come
  back to the driver, which writes them in the same order. Either way a document's stale points are
  deleted only after all its new points are stored, so an interrupted or retried run converges.

Ray retries a task or restarts an actor whose worker process dies; every write is idempotent
(deterministic point ids, stale points deleted by hash), so a retried batch writes the same points.
Outcomes are consumed in plan order (``preserve_order``), so the report lists documents and failures
in the order the local job would, and ``--strict`` stops at the same document.

Ray is an optional extra (``pip install 'verirag[ray]'``), imported only when this engine runs.
"""

from __future__ import annotations

import logging
import math
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ingest.job import (
    UPSERT_BATCH,
    IngestJob,
    IngestOptions,
    _Prepared,
    chunker_for,
    document_points,
    local_writer,
    prepare_document,
)
from ingest.parse_worker import ParseLimits, parse_worker_for
from ingest.plan import Plan
from ingest.progress import Progress
from ingest.report import DocumentReport, Failure, IngestReport
from rag.chunk_record import DOC_ID
from rag.embedding import SparseEncoder, embedder_for
from rag.settings import Settings
from rag.store import VectorStore, open_store
from rag.types import StoredPoint

log = logging.getLogger(__name__)

RAY_INSTALL_HINT = (
    "the Ray engine needs Ray, an optional extra: pip install 'verirag[ray]' "
    "(or run without --engine ray to ingest in this process)"
)
# Documents per parse task: small enough that a dead worker costs little to redo and results stream.
DOCUMENTS_PER_TASK = 32
# The object store of a Ray instance this engine starts itself: documents stream through it in
# small blocks, so a bounded store is enough and leaves the memory to the encoders.
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024
# One parse task holds a CPU (unstructured and the tokenizer are single-threaded) and the memory of a
# worker process with the tokenizer and the parsers loaded (its parse child has its own limit).
PARSE_TASK_CPUS = 1.0
PARSE_TASK_MEMORY_BYTES = 1024 * 1024 * 1024


class RayEngineError(RuntimeError):
    """The Ray engine cannot run; the message says why and what to do."""


class RayMissingError(RayEngineError):
    """``--engine ray`` without Ray installed; the message says how to install it."""


def import_ray():
    try:
        import ray
        import ray.data  # the extra is ray[data]: a bare ray lacks pyarrow/pandas
    except ImportError as error:
        raise RayMissingError(f"{RAY_INSTALL_HINT} ({error})") from error
    return ray


class RayResourcesError(RayEngineError):
    """The cluster cannot run the pipeline as asked (e.g. encoders would hold every CPU)."""


@dataclass(frozen=True)
class RayOptions:
    # None: start a Ray instance in this process's machine; "auto": join the cluster `ray start` runs
    # here; "ray://host:10001" or "host:6379": a remote cluster. A Ray already initialised is used as is.
    address: str | None = None
    actors: int = 1  # encoder actors (each loads the model once)
    num_gpus: float = 0.0  # GPUs per actor; 0 runs the encoder on CPU
    cpus_per_actor: float = 1.0
    # Documents per embedding batch (the embedder batches its texts by VERIRAG_EMBED_BATCH_SIZE inside).
    batch_documents: int = 16

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise ValueError(f"--actors must be at least 1, got {self.actors}")
        if self.num_gpus < 0 or self.cpus_per_actor <= 0 or self.batch_documents < 1:
            raise ValueError("--num-gpus must be ≥ 0, CPUs per actor > 0 and the batch ≥ 1 document")


@dataclass
class _Outcome:
    """What the pipeline hands the driver for one document: its report entry or failure, and its
    points when the driver writes them (embedded store)."""

    doc_id: str
    uri: str
    doc_hash: str
    is_new: bool
    error: str | None = None
    entry: DocumentReport | None = None
    points: list[StoredPoint] | None = None
    written: int = 0  # points the actor wrote itself (server store)
    deleted: int = 0  # stale points the actor deleted itself


# -- the pipeline's steps (run in Ray worker processes) -----------------------------------------------
def _prepare_row(row: dict[str, Any], settings: Settings, writer: str) -> dict[str, Any]:
    """Parse and chunk one document (a Ray task); failures travel as data, never as exceptions."""
    source, doc_hash, is_new = pickle.loads(row["work"])
    embedder = embedder_for(settings)  # once per worker process: the chunker needs its tokenizer
    parser = parse_worker_for(ParseLimits.from_settings(settings)).parse
    prepared = prepare_document(source, doc_hash, is_new, chunker_for(embedder, settings), lambda: parser, writer)
    return {DOC_ID: source.doc_id, "prepared": pickle.dumps(prepared)}


class _EmbedBatches:
    """One encoder actor: the model loaded once, batches of prepared documents turned into points."""

    def __init__(self, settings: Settings, collection: str, workers_write: bool):
        import ray

        if ray.get_gpu_ids() and settings.embed_device == "cpu":
            settings = settings.model_copy(update={"embed_device": "cuda"})  # this actor was given a GPU
        self.embedder = embedder_for(settings)
        self.sparse = SparseEncoder(settings.bm25_avg_len)
        self.store: VectorStore | None = open_store(settings, collection) if workers_write else None

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        documents: list[_Prepared] = [pickle.loads(blob) for blob in batch["prepared"]]
        good = [document for document in documents if document.error is None]
        points = document_points(good, self.embedder, self.sparse)
        outcomes = {id(document): _outcome(document) for document in documents}
        start = 0
        for document in good:
            end = start + len(document.chunks)
            outcomes[id(document)].points = points[start:end]
            start = end
        if self.store is not None:
            self._write(good, [outcomes[id(document)] for document in good])
        return {
            DOC_ID: [document.source.doc_id for document in documents],
            "outcome": [pickle.dumps(outcomes[id(document)]) for document in documents],
        }

    def _write(self, documents: list[_Prepared], outcomes: list[_Outcome]) -> None:
        """Upsert the batch, then delete the stale points of its documents (the local job's order)."""
        assert self.store is not None
        points = [point for outcome in outcomes for point in outcome.points or ()]
        for start in range(0, len(points), UPSERT_BATCH):
            self.store.upsert(points[start : start + UPSERT_BATCH])
        for document, outcome in zip(documents, outcomes):
            outcome.deleted = self.store.delete_document(document.source.doc_id, keep_hash=document.doc_hash)
            outcome.written, outcome.points = len(outcome.points or ()), None


def _outcome(document: _Prepared) -> _Outcome:
    source = document.source
    outcome = _Outcome(source.doc_id, source.uri, document.doc_hash, document.is_new, document.error)
    if document.error is None:
        outcome.entry = document.entry()
    return outcome


# -- the driver ---------------------------------------------------------------------------------------
class RayIngestJob(IngestJob):
    """The local job with its write step on Ray (see the module's docstring)."""

    def __init__(self, settings: Settings, ray_options: RayOptions | None = None, **kwargs: Any):
        super().__init__(settings, **kwargs)
        self.ray_options = ray_options or RayOptions()

    def _write(self, store: VectorStore, plan: Plan, options: IngestOptions, report: IngestReport) -> None:
        work = [(source, doc_hash, True) for source, doc_hash in plan.new]
        work += [(source, doc_hash, False) for source, doc_hash in plan.changed]
        if not work:
            return
        ray = import_ray()
        embedder = self.embedder  # the driver checks the collection's dimension before any worker starts
        store.check_dimension(embedder.dimension)
        started_here = self._connect(ray)
        try:
            self._check_resources(ray)
            log.info("writing %d documents into %r on Ray (%d encoder actors)",
                     len(work), options.collection, self.ray_options.actors)
            workers_write = store.backend != "embedded"
            writer = options.ingested_by or local_writer()
            with Progress(total=len(work), enabled=options.progress, label=options.collection) as progress:
                outcomes = self._outcomes(ray, work, options.collection, writer, workers_write)
                self._collect(outcomes, store, report, progress, options.strict)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        """Join or start Ray unless this process already did; True when this run must shut it down."""
        if ray.is_initialized():
            return False
        address = self.ray_options.address
        try:
            if address is None:
                ray.init(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                         logging_level=logging.WARNING, configure_logging=False)
            else:
                ray.init(address=address, logging_level=logging.WARNING, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise RayEngineError(
                f"cannot start or join {where}: {error}. Start one with `ray start --head`, pass its address "
                "with --ray-address (\"auto\" for one on this machine), or omit --ray-address to start a local one"
            ) from error
        return True

    def _check_resources(self, ray) -> None:
        """Encoders that take every CPU would leave none to the parse tasks: the run would wait forever."""
        options = self.ray_options
        cpus = ray.cluster_resources().get("CPU", 0)
        wanted = options.actors * options.cpus_per_actor + PARSE_TASK_CPUS
        if wanted > cpus:
            raise RayResourcesError(
                f"--actors {options.actors} × --cpus-per-actor {options.cpus_per_actor:g} + {PARSE_TASK_CPUS:g} CPU "
                f"for parsing needs {wanted:g} CPUs but the Ray cluster has {cpus:g}; use fewer actors, a smaller "
                "--cpus-per-actor (e.g. 0.5), or a bigger cluster"
            )

    def _outcomes(self, ray, work: list[tuple], collection: str, writer: str, workers_write: bool) -> Iterator[_Outcome]:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # plan order: the local job's report and --strict
        context.enable_progress_bars = False  # verirag's own bar counts documents
        items = [{"work": pickle.dumps(entry)} for entry in work]
        dataset = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / DOCUMENTS_PER_TASK)))
        # Ray Data's defaults retry what a dead process was doing: a task without limit, an actor
        # restarted without limit with its batch retried. Parse failures travel as data, never raise.
        # The tasks' own memory reservation also keeps Ray Data from fusing this step into the encoder
        # actors (it fuses a task map into an actor pool whose resources match): parsing then scales
        # with the cluster's CPUs, not with the number of encoders.
        dataset = dataset.map(_prepare_row, fn_kwargs={"settings": self.settings, "writer": writer},
                              num_cpus=PARSE_TASK_CPUS, memory=PARSE_TASK_MEMORY_BYTES)
        options = self.ray_options
        dataset = dataset.map_batches(
            _EmbedBatches,
            fn_constructor_kwargs={"settings": self.settings, "collection": collection, "workers_write": workers_write},
            batch_size=options.batch_documents,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=options.actors),
            num_cpus=options.cpus_per_actor,
            num_gpus=options.num_gpus,
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for blob in batch["outcome"]:
                yield pickle.loads(blob)

    def _collect(self, outcomes: Iterator[_Outcome], store: VectorStore, report: IngestReport,
                 progress: Progress, strict: bool) -> None:
        """Count what the pipeline did; write through this process when the store is embedded."""
        pending: list[_Outcome] = []
        seen: set[str] = set()
        for outcome in outcomes:
            if outcome.doc_id in seen:  # belt and braces: a retried block must not count twice
                continue
            seen.add(outcome.doc_id)
            if outcome.error is not None:
                report.failures.append(Failure(outcome.uri, outcome.error))
                progress.advance(files=1)
                if strict:
                    report.stopped_early = True
                    break
                continue
            if outcome.points is None:  # written by the actor
                self._count(report, [outcome])
                progress.advance(files=1, chunks=outcome.written)
            else:
                pending.append(outcome)
                if sum(len(o.points or ()) for o in pending) >= self.settings.ingest_batch_chunks:
                    self._flush_outcomes(store, pending, report, progress)
                    pending = []
            if self.interrupted:
                log.warning("interrupted: the batch being written was finished; %d documents embedded but "
                            "not written are left for the next run", len(pending))
                return
        self._flush_outcomes(store, pending, report, progress)

    def _flush_outcomes(self, store: VectorStore, outcomes: list[_Outcome], report: IngestReport,
                        progress: Progress) -> None:
        """The local job's write order: every point of the batch, then each document's stale points."""
        points = [point for outcome in outcomes for point in outcome.points or ()]
        for start in range(0, len(points), UPSERT_BATCH):
            store.upsert(points[start : start + UPSERT_BATCH])
        for outcome in outcomes:
            outcome.written = len(outcome.points or ())
            outcome.deleted = store.delete_document(outcome.doc_id, keep_hash=outcome.doc_hash)
        self._count(report, outcomes)
        progress.advance(files=len(outcomes), chunks=len(points))

    @staticmethod
    def _count(report: IngestReport, outcomes: list[_Outcome]) -> None:
        for outcome in outcomes:
            report.chunks.written += outcome.written
            report.chunks.deleted += outcome.deleted
            if outcome.is_new:
                report.files.new += 1
            else:
                report.files.changed += 1
            assert outcome.entry is not None
            report.documents.append(outcome.entry)


def engine_job(engine: str, settings: Settings, ray_options: RayOptions | None = None) -> IngestJob:
    """The job an ``--engine`` name means: "local" (this process) or "ray"."""
    if engine == "local":
        return IngestJob(settings)
    if engine == "ray":
        import_ray()  # say how to install it before any work
        return RayIngestJob(settings, ray_options)
    raise ValueError(f"unknown engine {engine!r}: use 'local' or 'ray'")

