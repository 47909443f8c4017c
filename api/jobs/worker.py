"""The background thread that runs ingest jobs, one at a time, file by file.

Each file is one run of :class:`ingest.job.IngestJob`, so its outcome (ingested, unchanged, failed
with the reason) is recorded the moment it is known and the job's progress moves file by file. The
job writes through the server's own open collection (an embedded collection cannot be opened twice).
A stop request (server shutdown) lets the current file finish, then puts the job back in the queue
for the next start.

Replicas (``VERIRAG_JOBS_URL``) share one job table: each worker claims a job under its own name with a
lease, renews the lease from a heartbeat thread while the job runs, and between jobs puts back in the
queue the jobs whose lease ran out (their replica died). A worker that finds its lease taken (it paused
longer than the lease) stops the job: the worker that reclaimed it finishes it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from pathlib import Path

from ingest.job import IngestJob, IngestOptions
from rag.settings import Settings
from rag.store import StoreError

from api.jobs.table import JobRecord, JobTable
from api.registry import CollectionRegistry

log = logging.getLogger("api.jobs")
IDLE_WAIT_S = 5.0
HEARTBEATS_PER_LEASE = 3  # a lease survives two missed renewals


def worker_name() -> str:
    """This process's name in ``claimed_by``: host and pid (where to look), plus a random part (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseLost(Exception):
    """Another worker reclaimed the job while this one still ran it."""


class IngestWorker:
    def __init__(self, jobs: JobTable, registry: CollectionRegistry, settings: Settings, embedder,
                 uploads_dir: Path, metrics=None, max_attempts: int = 3):
        self.jobs = jobs
        self.name = worker_name()
        self.max_attempts = max_attempts
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
        idle_wait = min(IDLE_WAIT_S, self.jobs.lease_s)
        while not self._stop.is_set():
            try:
                self._recover_expired()
                job = self.jobs.claim_next(self.name)
            except Exception:  # the database is down or failing over: try again, never die
                log.exception("ingest worker: cannot reach the job table; retrying in %.0f s", idle_wait)
                self._stop.wait(idle_wait)
                continue
            if job is None:
                self._wake.wait(idle_wait)
                self._wake.clear()
                continue
            lease_lost = threading.Event()
            heartbeat = threading.Thread(target=self._heartbeat, args=(job.id, lease_lost),
                                         name="verirag-ingest-lease", daemon=True)
            heartbeat.start()
            try:
                self.run(job, lease_lost)
            except LeaseLost:
                log.warning("ingest job %s: another worker took it over (this one's lease ran out)", job.id)
            except Exception as error:  # the worker must survive any one job
                log.exception("ingest job %s failed unexpectedly", job.id)
                if self.jobs.finish(job.id, "failed", f"unexpected error ({type(error).__name__}: {error})",
                                    worker=self.name):
                    self._count_job("failed")
            finally:
                lease_lost.set()  # also ends the heartbeat
                heartbeat.join()

    def _heartbeat(self, job_id: str, done: threading.Event) -> None:
        """Renew the lease until the job ends; a renewal refused means the lease is gone."""
        while not done.wait(self.jobs.lease_s / HEARTBEATS_PER_LEASE):
            try:
                if not self.jobs.renew(job_id, self.name):
                    done.set()
                    return
            except Exception:  # a database blip: the next beat tries again before the lease runs out
                log.warning("ingest job %s: could not renew its lease", job_id, exc_info=True)

    def _recover_expired(self) -> None:
        requeued, failed = self.jobs.recover_interrupted(self.max_attempts, expired_only=True)
        for job_id in requeued:
            log.warning("ingest job %s: its worker stopped renewing its lease; resuming it here", job_id)
        for job_id in failed:
            log.error("ingest job %s was interrupted too often; marked failed", job_id)

    def run(self, job: JobRecord, lease_lost: threading.Event | None = None) -> None:
        """Run a claimed job to its end. Called by the worker's thread (``lease_lost`` set by its heartbeat)
        or directly by tests with a job from ``claim_next()``."""
        worker = self.name if lease_lost is not None else None
        lease_lost = lease_lost or threading.Event()
        log.info("ingest job %s: %d files into %r", job.id, len(job.files), job.collection)
        try:
            collection = self.registry.get_or_create(job.collection)
        except StoreError as error:
            self._finish(job.id, "failed", f"cannot open collection {job.collection!r}: {error}", worker)
            return
        ingest = IngestJob(self.settings, self._embedder(), store=collection.store)  # the registry's store, lent
        folder = self.uploads_dir / job.id
        for record in job.files:
            if record.done:
                continue
            if lease_lost.is_set():
                raise LeaseLost(job.id)
            if self._stop.is_set():
                self.jobs.requeue(job.id, "interrupted by a server shutdown; resumes at the next start", worker)
                return
            self._ingest_file(job, record, folder / (record.stored_name or ""), ingest, worker)
        finished = self.jobs.get(job.id)
        assert finished is not None
        stored = [f for f in finished.files if f.status in ("ingested", "unchanged")]
        if stored or not finished.files:
            self._finish(job.id, "succeeded", None, worker)
        else:
            self._finish(job.id, "failed", "no file could be ingested; see each file's error", worker)

    def _finish(self, job_id: str, state: str, error: str | None, worker: str | None) -> None:
        if not self.jobs.finish(job_id, state, error, worker=worker):
            raise LeaseLost(job_id)
        self._count_job(state)

    def _ingest_file(self, job: JobRecord, record, path: Path, ingest: IngestJob, worker: str | None) -> None:
        if not record.stored_name or not path.is_file():
            self._record(job.id, record.position, "failed",
                         f"the uploaded file is gone from {path.parent}; upload it again", worker=worker)
            return
        try:
            report = ingest.run(IngestOptions(paths=[str(path)], collection=job.collection, progress=False,
                                              ingested_by=f"key:{job.key_id or 'anonymous'}"))
        except StoreError as error:
            self._record(job.id, record.position, "failed", f"the store refused the write: {error}", worker=worker)
            return
        except Exception as error:  # one bad file never stops the job
            log.exception("ingest job %s: unexpected error on %s", job.id, record.name)
            self._record(job.id, record.position, "failed", f"unexpected error ({type(error).__name__}: {error})",
                         worker=worker)
            return
        if report.failures:
            self._record(job.id, record.position, "failed", "; ".join(f.error for f in report.failures),
                         worker=worker)
        elif report.files.new or report.files.changed:
            self._record(job.id, record.position, "ingested", None, report.chunks.written, report.chunks.deleted,
                         worker)
        else:
            self._record(job.id, record.position, "unchanged", worker=worker)

    def _record(self, job_id: str, position: int, status: str, error: str | None = None,
                written: int = 0, deleted: int = 0, worker: str | None = None) -> None:
        if not self.jobs.record_file(job_id, position, status, error, written, deleted, worker=worker):
            raise LeaseLost(job_id)
        if self.metrics is not None:
            self.metrics.files.labels(status).inc()

    def _count_job(self, state: str) -> None:
        if self.metrics is not None:
            self.metrics.jobs.labels(state).inc()
