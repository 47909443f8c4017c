"""The background thread that runs ingest jobs, one at a time, file by file.

Each file is one run of :class:`ingest.job.IngestJob`, so its outcome (ingested, unchanged, failed
with the reason) is recorded the moment it is known and the job's progress moves file by file. The
job writes through the server's own open collection (an embedded collection cannot be opened twice).
A stop request (server shutdown) lets the current file finish, then puts the job back in the queue
for the next start.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ingest.job import IngestJob, IngestOptions
from rag.settings import Settings
from rag.store import StoreError

from api.jobs.table import JobRecord, JobTable
from api.registry import CollectionRegistry

log = logging.getLogger("api.jobs")
IDLE_WAIT_S = 5.0


class IngestWorker:
    def __init__(self, jobs: JobTable, registry: CollectionRegistry, settings: Settings, embedder,
                 uploads_dir: Path, metrics=None):
        self.jobs = jobs
        self.registry = registry
        self.settings = settings
        self._embedder = embedder  # callable → the shared embedder
        self.uploads_dir = uploads_dir
        self.metrics = metrics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="verirag-ingest-worker", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None = 60.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.jobs.claim_next()
            if job is None:
                self._wake.wait(IDLE_WAIT_S)
                self._wake.clear()
                continue
            try:
                self.run(job)
            except Exception as error:  # the worker must survive any one job
                log.exception("ingest job %s failed unexpectedly", job.id)
                self.jobs.finish(job.id, "failed", f"unexpected error ({type(error).__name__}: {error})")
                self._count_job("failed")

    def run(self, job: JobRecord) -> None:
        log.info("ingest job %s: %d files into %r", job.id, len(job.files), job.collection)
        try:
            collection = self.registry.get_or_create(job.collection)
        except StoreError as error:
            self.jobs.finish(job.id, "failed", f"cannot open collection {job.collection!r}: {error}")
            self._count_job("failed")
            return
        ingest = IngestJob(self.settings, self._embedder(), store=collection.store)  # the registry's store, lent
        folder = self.uploads_dir / job.id
        for record in job.files:
            if record.done:
                continue
            if self._stop.is_set():
                self.jobs.requeue(job.id, "interrupted by a server shutdown; resumes at the next start")
                return
            self._ingest_file(job, record, folder / (record.stored_name or ""), ingest)
        finished = self.jobs.get(job.id)
        assert finished is not None
        stored = [f for f in finished.files if f.status in ("ingested", "unchanged")]
        if stored or not finished.files:
            self.jobs.finish(job.id, "succeeded")
            self._count_job("succeeded")
        else:
            self.jobs.finish(job.id, "failed", "no file could be ingested; see each file's error")
            self._count_job("failed")

    def _ingest_file(self, job: JobRecord, record, path: Path, ingest: IngestJob) -> None:
        if not record.stored_name or not path.is_file():
            self._record(job.id, record.position, "failed",
                         f"the uploaded file is gone from {path.parent}; upload it again")
            return
        try:
            report = ingest.run(IngestOptions(paths=[str(path)], collection=job.collection, progress=False,
                                              ingested_by=f"key:{job.key_id or 'anonymous'}"))
        except StoreError as error:
            self._record(job.id, record.position, "failed", f"the store refused the write: {error}")
            return
        except Exception as error:  # one bad file never stops the job
            log.exception("ingest job %s: unexpected error on %s", job.id, record.name)
            self._record(job.id, record.position, "failed", f"unexpected error ({type(error).__name__}: {error})")
            return
        if report.failures:
            self._record(job.id, record.position, "failed", "; ".join(f.error for f in report.failures))
        elif report.files.new or report.files.changed:
            self._record(job.id, record.position, "ingested", None, report.chunks.written, report.chunks.deleted)
        else:
            self._record(job.id, record.position, "unchanged")

    def _record(self, job_id: str, position: int, status: str, error: str | None = None,
                written: int = 0, deleted: int = 0) -> None:
        self.jobs.record_file(job_id, position, status, error, written, deleted)
        if self.metrics is not None:
            self.metrics.files.labels(status).inc()

    def _count_job(self, state: str) -> None:
        if self.metrics is not None:
            self.metrics.jobs.labels(state).inc()
