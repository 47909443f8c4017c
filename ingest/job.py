"""The ingestion job: plan, then parse → chunk → embed → write, one document never stopping the batch.

Write order is what makes a killed run safe: a document's new points are upserted first
(deterministic ids overwrite, never duplicate), and only after all of them are stored are its
stale points (other ``doc_hash``) deleted. A rerun recognises a half-written document by its mixed
hashes or a point count short of ``chunk_count`` and writes it again, so any interruption
converges to the state of an uninterrupted run.

Interrupting (:meth:`IngestJob.interrupt`, which ``verirag ingest`` calls on Ctrl-C) stops at the next
safe point: the batch being written is finished, documents parsed but not yet written are dropped,
the parse in progress is cancelled, nothing is pruned, and the report says ``interrupted``. A
``KeyboardInterrupt`` raised inside :meth:`IngestJob.run` (a second Ctrl-C) stops at once, with the
same report; the write order above keeps even that recoverable by a rerun.
"""

from __future__ import annotations

import getpass
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rag.chunk_record import provenance_payload, to_payload
from rag.embedding import DenseEmbedder, SparseEncoder, embedder_for
from rag.expansion import expansion_token_counts
from rag.settings import Settings
from rag.store import StoreMissingError, VectorStore, open_store
from rag.types import Chunk, Provenance, StoredPoint
from ingest.chunking import ChunkBudget, Chunker
from ingest.parse import ParsedDocument, ParseError, parse_record
from ingest.parse_worker import ParseLimits, ParseWorker, parse_worker_for
from ingest.plan import Plan, make_plan
from ingest.progress import Progress
from ingest.report import DocumentReport, Failure, IngestReport
from ingest.sources import Source, discover

log = logging.getLogger(__name__)
UPSERT_BATCH = 512
# How often the writer looks for an interruption while it waits for the next parsed document.
INTERRUPT_POLL_S = 0.2


@dataclass(frozen=True)
class IngestOptions:
    paths: Sequence[str]
    collection: str
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    prune: bool = False
    dry_run: bool = False
    strict: bool = False
    progress: bool | None = None  # None: a bar on a terminal, log lines otherwise
    # Who writes, stored with each document (rag.chunk_record.INGESTED_BY): the API passes "key:<id>";
    # None is this process's OS user, "cli:<user>".
    ingested_by: str | None = None


@dataclass
class _Prepared:
    source: Source
    doc_hash: str
    is_new: bool
    chunks: list[Chunk] = field(default_factory=list)
    payloads: list[dict] = field(default_factory=list)  # one per chunk
    error: str | None = None
    title: str = ""
    page_count: int | None = None
    warnings: tuple[str, ...] = ()

    def entry(self) -> DocumentReport:
        return DocumentReport(
            doc_id=self.source.doc_id, source=self.source.uri, title=self.title, pages=self.page_count,
            chunks=len(self.chunks), warnings=list(self.warnings), status="new" if self.is_new else "changed",
        )


def local_writer() -> str:
    """``cli:<OS user>``: who an ingest run outside the API is recorded as."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container user without a passwd entry
        return "cli"


def source_provenance(source: Source, ingested_by: str) -> Provenance:
    return Provenance(
        source_sha256=source.content_hash,
        source_bytes=source.size,
        ingested_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ingested_by=ingested_by,
    )


def document_payloads(chunks: Sequence[Chunk], count_tokens: Callable[[str], int]) -> list[dict]:
    """One document's payloads in index order (rag.chunk_record), with the token counts neighbour
    expansion reads (``token_count``, ``tokens_after_previous``), so that queries tokenize nothing."""
    payloads = [to_payload(chunk) for chunk in chunks]
    for payload, counts in zip(payloads, expansion_token_counts(payloads, count_tokens)):
        payload.update(counts)
    return payloads


def chunker_for(embedder: DenseEmbedder, settings: Settings) -> Chunker:
    """The chunker both engines use: the embedder's tokenizer and the settings' budget."""
    return Chunker(
        embedder.count_tokens, ChunkBudget(embedder.max_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
    )


def prepare_document(
    source: Source, doc_hash: str, is_new: bool, chunker: Chunker,
    parser: Callable[[], Callable[[Path], ParsedDocument]], writer: str,
) -> _Prepared:
    """Parse and chunk one document into its payloads; a failure is kept as ``error``, never raised.
    ``parser`` is asked for only when a file needs parsing (corpus records never start a parse worker).
    Shared by the local job and the Ray engine (ingest.ray_engine), so both make the same points."""
    prepared = _Prepared(source, doc_hash, is_new)
    try:
        if source.is_record:
            document = parse_record(source.title or "", source.text or "")
        else:
            if source.size == 0:
                raise ParseError("the file is empty")
            document = parser()(source.path)
        prepared.chunks = chunker.chunk(document, source.doc_id, source.uri, doc_hash, source.metadata)
        if not prepared.chunks:
            raise ParseError("no text could be extracted")
        prepared.payloads = document_payloads(prepared.chunks, chunker.count_tokens)
        provenance = provenance_payload(source_provenance(source, writer))
        for payload in prepared.payloads:
            payload.update(provenance)
        prepared.title, prepared.page_count, prepared.warnings = document.title, document.page_count, document.warnings
    except ParseError as error:
        prepared.error = str(error)
    except Exception as error:  # one bad document must never stop the batch
        log.exception("unexpected error on %s", source.uri)
        prepared.error = f"unexpected error while reading the document ({type(error).__name__}: {error})"
    return prepared


def document_points(documents: Sequence[_Prepared], embedder: DenseEmbedder, sparse: SparseEncoder) -> list[StoredPoint]:
    """The points of prepared documents, in order: dense and sparse vectors beside each payload."""
    chunks = [chunk for document in documents for chunk in document.chunks]
    payloads = [payload for document in documents for payload in document.payloads]
    texts = [chunk.embedding_text for chunk in chunks]
    dense = embedder.embed(texts)
    return [
        StoredPoint(chunk.id, vector.tolist(), sparse.embed_document(text), payload)
        for chunk, payload, vector, text in zip(chunks, payloads, dense, texts, strict=True)
    ]


class IngestJob:
    """``parser``: turns a file into a ParsedDocument or raises ParseError; by default the process's
    isolated parse worker under the settings' limits (ingest.parse_worker). ``store``: an open store to
    write into instead of opening ``options.collection`` (the API lends its collection's store this way);
    the run borrows it and leaves it open."""

    def __init__(self, settings: Settings, embedder: DenseEmbedder | None = None,
                 parser: Callable[[Path], ParsedDocument] | None = None, store: VectorStore | None = None):
        self.settings = settings
        self._embedder = embedder
        self._parser = parser
        self._borrowed_store = store
        self._interrupted = threading.Event()

    def interrupt(self) -> None:
        """Stop the run at the next safe point (see the module's docstring). Safe from a signal
        handler or another thread; applies to this job object for good."""
        self._interrupted.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def _cancel_parse(self) -> None:
        """Cancel the parse in progress on the parse worker (its child is killed), if it is one."""
        worker = getattr(self._parser, "__self__", None)
        if isinstance(worker, ParseWorker):
            worker.cancel()

    @property
    def parser(self) -> Callable[[Path], ParsedDocument]:
        if self._parser is None:
            self._parser = parse_worker_for(ParseLimits.from_settings(self.settings)).parse
        return self._parser

    @property
    def embedder(self) -> DenseEmbedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = embedder_for(s)
        return self._embedder

    def run(self, options: IngestOptions) -> IngestReport:
        """Raises SourceError (NothingToIngest for paths that hold nothing) or StoreError before
        anything is written; a KeyboardInterrupt inside ends the run with ``report.interrupted``."""
        started = time.perf_counter()
        report = IngestReport(collection=options.collection, dry_run=options.dry_run)
        store: VectorStore | None = None
        try:
            discovery = discover(options.paths, options.include, options.exclude)
            if discovery.empty:
                raise discovery.nothing_found(options.include, options.exclude)
            report.failures.extend(Failure(f.path, f.error) for f in discovery.failures)
            report.files.total = len(discovery.sources) + len(discovery.failures)

            store = self._borrowed_store or self._open(options)
            states = store.document_states() if store is not None else {}
            plan = make_plan(discovery, states, self.settings, options.prune)
            report.failures.extend(Failure(f.path, f.error) for f in plan.rejected)
            report.files.unchanged = len(plan.unchanged)
            if options.dry_run:
                report.files.new, report.files.changed = len(plan.new), len(plan.changed)
                report.files.pruned = len(plan.prune)
                report.chunks.deleted = sum(state.points for state in plan.prune)
            elif options.strict and report.failures:
                report.stopped_early = True
            elif not self.interrupted:
                assert store is not None
                self._write(store, plan, options, report)
                if not self.interrupted:
                    self._prune(store, plan, report)
        except KeyboardInterrupt:
            self.interrupt()
            log.warning("interrupted at once: stopping without finishing the batch being written")
        finally:
            if store is not None and store is not self._borrowed_store:
                store.close()
        report.interrupted = self.interrupted
        report.files.failed = len(report.failures)
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _open(self, options: IngestOptions) -> VectorStore | None:
        """Open the collection without loading the model: a run with nothing to write never
        needs it. Only a collection that does not exist yet needs the model's dimension."""
        try:
            return open_store(self.settings, options.collection)
        except StoreMissingError:
            if options.dry_run:
                return None  # nothing stored yet: everything found is new
        return open_store(self.settings, options.collection, dimension=self.embedder.dimension)

    # -- writing -----------------------------------------------------------------------------
    def _write(self, store: VectorStore, plan: Plan, options: IngestOptions, report: IngestReport) -> None:
        work = [(source, doc_hash, True) for source, doc_hash in plan.new]
        work += [(source, doc_hash, False) for source, doc_hash in plan.changed]
        if not work:
            return
        log.info("writing %d documents into %r", len(work), options.collection)
        embedder = self.embedder
        store.check_dimension(embedder.dimension)
        sparse = SparseEncoder(self.settings.bm25_avg_len)
        chunker = chunker_for(embedder, self.settings)
        pending: list[_Prepared] = []
        pending_chunks = 0
        stop = threading.Event()
        with Progress(total=len(work), enabled=options.progress, label=options.collection) as progress:
            writer = options.ingested_by or local_writer()
            for prepared in self._prepare_in_background(work, chunker, stop, writer):
                if self.interrupted:
                    break
                if prepared.error is not None:
                    report.failures.append(Failure(prepared.source.uri, prepared.error))
                    progress.advance(files=1)
                    if options.strict:
                        report.stopped_early = True
                        stop.set()
                        break
                    continue
                pending.append(prepared)
                pending_chunks += len(prepared.chunks)
                if pending_chunks >= self.settings.ingest_batch_chunks:
                    self._flush(store, pending, embedder, sparse, report, progress)
                    pending, pending_chunks = [], 0
            if self.interrupted:
                log.warning("interrupted: the batch being written was finished; %d parsed documents not written "
                            "are left for the next run", len(pending))
                return
            self._flush(store, pending, embedder, sparse, report, progress)

    def _prepare_in_background(
        self, work: list[tuple[Source, str, bool]], chunker: Chunker, stop: threading.Event, writer: str
    ) -> Iterator[_Prepared]:
        """Parse and chunk on a second thread while this one embeds: torch releases the GIL."""
        results: queue.Queue = queue.Queue(maxsize=64)
        done = object()

        def produce() -> None:
            try:
                for source, doc_hash, is_new in work:
                    if stop.is_set():
                        break
                    results.put(self._prepare(source, doc_hash, is_new, chunker, writer))
            finally:
                results.put(done)

        worker = threading.Thread(target=produce, name="verirag-parse", daemon=True)
        worker.start()
        finished = False
        try:
            while not self.interrupted:
                try:
                    item = results.get(timeout=INTERRUPT_POLL_S)
                except queue.Empty:
                    continue
                if item is done:
                    finished = True
                    break
                yield item
        finally:
            stop.set()
            if not finished:  # stopped early: the parse in progress is not wanted any more
                self._cancel_parse()
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    results.get(timeout=0.1)
                except queue.Empty:
                    pass
            worker.join()

    def _prepare(self, source: Source, doc_hash: str, is_new: bool, chunker: Chunker, writer: str) -> _Prepared:
        return prepare_document(source, doc_hash, is_new, chunker, lambda: self.parser, writer)

    def _flush(
        self,
        store: VectorStore,
        documents: list[_Prepared],
        embedder: DenseEmbedder,
        sparse: SparseEncoder,
        report: IngestReport,
        progress: Progress,
    ) -> None:
        if not documents:
            return
        points = document_points(documents, embedder, sparse)
        for start in range(0, len(points), UPSERT_BATCH):
            store.upsert(points[start : start + UPSERT_BATCH])
        report.chunks.written += len(points)
        # Every point of these documents is stored now: their stale versions can go.
        for document in documents:
            report.chunks.deleted += store.delete_document(document.source.doc_id, keep_hash=document.doc_hash)
            if document.is_new:
                report.files.new += 1
            else:
                report.files.changed += 1
            report.documents.append(document.entry())
        progress.advance(files=len(documents), chunks=len(points))

    def _prune(self, store: VectorStore, plan: Plan, report: IngestReport) -> None:
        for state in plan.prune:
            report.chunks.deleted += store.delete_document(state.doc_id)
            report.files.pruned += 1
