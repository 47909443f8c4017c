"""Ingest jobs and their files in the API's state database, so they outlive the process.

A job is ``queued`` → ``running`` → ``succeeded`` | ``failed``. Every file's outcome is written as
soon as it is known, so a job interrupted by a crash or a restart keeps what it finished, and is put
back in the queue (ingestion is idempotent: the files already done are skipped, a half-written one is
rewritten) or, after too many attempts, failed with a note saying so.

The table lives in SQLite under the data directory (one API process) or in PostgreSQL shared by every
replica (``VERIRAG_JOBS_URL``, api.state_db). A worker claims a job with a lease: ``claimed_by`` names it,
``lease_until`` says until when, and the worker renews it while it runs (:meth:`JobTable.renew`). On
PostgreSQL the claim takes the row with ``FOR UPDATE SKIP LOCKED``, so two replicas never claim one job;
a replica that dies stops renewing, and once its lease runs out another replica's
:meth:`JobTable.recover_interrupted` puts the job back in the queue. A worker's writes name its claim,
so one that lost its lease (a long pause) can no longer change the job another worker now runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine

from api.state_db import StateTables, is_postgres

METADATA = MetaData()
JOBS = Table(
    "jobs", METADATA,
    Column("id", String, primary_key=True),
    Column("collection", Text, nullable=False),
    Column("state", String, nullable=False),
    Column("key_id", String),
    Column("error", Text),
    Column("note", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("claimed_by", String),  # the worker running it (host:pid:random); added after the first version
    Column("lease_until", Float),  # the claim holds until then unless renewed
    Index("jobs_by_state", "state", "created_at"),
)  # fmt: skip
JOB_FILES = Table(
    "job_files", METADATA,
    Column("job_id", String, ForeignKey("jobs.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("stored_name", Text),
    Column("doc_id", Text),
    Column("size", Integer, nullable=False),
    Column("content_type", Text),
    Column("detected_type", Text),
    Column("status", String, nullable=False),
    Column("error", Text),
    Column("chunks_written", Integer, nullable=False, server_default="0"),
    Column("chunks_deleted", Integer, nullable=False, server_default="0"),
    Index("job_files_by_doc", "doc_id"),
)  # fmt: skip
_JOB_COLUMNS = [JOBS.c[name] for name in ("id", "collection", "state", "key_id", "error", "note", "attempts",
                                          "created_at", "started_at", "finished_at")]
_FILE_COLUMNS = [JOB_FILES.c[name] for name in ("position", "name", "stored_name", "doc_id", "size", "content_type",
                                                "detected_type", "status", "error", "chunks_written",
                                                "chunks_deleted")]
DEFAULT_LEASE_S = 60.0

FINAL_FILE_STATES = ("ingested", "unchanged", "failed", "rejected")


@dataclass
class JobFileRecord:
    position: int
    name: str
    stored_name: str | None
    doc_id: str | None
    size: int
    content_type: str | None
    detected_type: str | None
    status: str
    error: str | None = None
    chunks_written: int = 0
    chunks_deleted: int = 0

    @property
    def done(self) -> bool:
        return self.status in FINAL_FILE_STATES

    def to_dict(self) -> dict:
        return {
            "name": self.name, "doc_id": self.doc_id, "size": self.size, "content_type": self.content_type,
            "detected_type": self.detected_type, "status": self.status, "error": self.error,
            "chunks_written": self.chunks_written, "chunks_deleted": self.chunks_deleted,
        }  # fmt: skip


@dataclass
class JobRecord:
    id: str
    collection: str
    state: str
    key_id: str | None
    error: str | None
    note: str | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    files: list[JobFileRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        total = len(self.files)
        done = sum(1 for f in self.files if f.done)
        return {
            "id": self.id, "collection": self.collection, "state": self.state,
            "progress": {"files_total": total, "files_done": done, "fraction": round(done / total, 4) if total else 1.0},
            "files": [f.to_dict() for f in self.files], "error": self.error, "note": self.note,
            "attempts": self.attempts, "created_at": self.created_at, "started_at": self.started_at,
            "finished_at": self.finished_at,
        }  # fmt: skip


class JobTable(StateTables):
    """``source``: the path of the job table's own SQLite file, or an engine from api.state_db.engine_for."""

    METADATA = METADATA

    def __init__(self, source: Path | Engine, lease_s: float = DEFAULT_LEASE_S):
        super().__init__(source)
        self.shared = is_postgres(self.engine)
        self.lease_s = lease_s

    # -- writes --------------------------------------------------------------------------------
    def create(self, job_id: str, collection: str, key_id: str | None, files: Iterable[JobFileRecord]) -> JobRecord:
        """One transaction: a job exists with all its files, or not at all. Nothing to run → failed."""
        files = list(files)
        now = time.time()
        runnable = any(f.status == "pending" for f in files)
        state, error = ("queued", None) if runnable else ("failed", "no file was accepted; see each file's error")
        with self.engine.begin() as db:
            db.execute(JOBS.insert().values(id=job_id, collection=collection, state=state, key_id=key_id,
                                            error=error, attempts=0, created_at=now,
                                            finished_at=None if runnable else now))
            if files:
                db.execute(JOB_FILES.insert(), [
                    {"job_id": job_id, "position": f.position, "name": f.name, "stored_name": f.stored_name,
                     "doc_id": f.doc_id, "size": f.size, "content_type": f.content_type,
                     "detected_type": f.detected_type, "status": f.status, "error": f.error,
                     "chunks_written": 0, "chunks_deleted": 0} for f in files
                ])  # fmt: skip
        record = self.get(job_id)
        assert record is not None
        return record

    def claim_next(self, worker: str | None = None) -> JobRecord | None:
        """The oldest queued job, now running under ``worker``'s lease (one attempt more). Concurrent
        claims, from threads or from replicas, never return the same job."""
        now = time.time()
        with self.engine.begin() as db:
            oldest = select(JOBS.c.id).where(JOBS.c.state == "queued").order_by(JOBS.c.created_at, JOBS.c.id).limit(1)
            if self.shared:  # a row another replica is claiming right now is skipped, not waited for
                oldest = oldest.with_for_update(skip_locked=True)
            job_id = db.execute(oldest).scalar()
            if job_id is None:
                return None
            claimed = db.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state == "queued").values(
                state="running", attempts=JOBS.c.attempts + 1, started_at=func.coalesce(JOBS.c.started_at, now),
                claimed_by=worker, lease_until=now + self.lease_s,
            )).rowcount  # fmt: skip
        return self.get(job_id) if claimed == 1 else None

    def renew(self, job_id: str, worker: str | None) -> bool:
        """Extend ``worker``'s lease on a running job; False when the claim is no longer its own."""
        with self.engine.begin() as db:
            changed = db.execute(update(JOBS).where(self._held(job_id, worker)).values(
                lease_until=time.time() + self.lease_s)).rowcount
        return changed == 1

    def record_file(self, job_id: str, position: int, status: str, error: str | None = None,
                    chunks_written: int = 0, chunks_deleted: int = 0, worker: str | None = None) -> bool:
        """One file's outcome; with ``worker``, only while the job is still that worker's (False otherwise)."""
        where = and_(JOB_FILES.c.job_id == job_id, JOB_FILES.c.position == position)
        if worker is not None:
            where = and_(where, exists().where(self._held(job_id, worker)))
        with self.engine.begin() as db:
            changed = db.execute(update(JOB_FILES).where(where).values(
                status=status, error=error, chunks_written=chunks_written, chunks_deleted=chunks_deleted)).rowcount
        return changed == 1

    def finish(self, job_id: str, state: str, error: str | None = None, worker: str | None = None) -> bool:
        where = self._held(job_id, worker) if worker is not None else JOBS.c.id == job_id
        with self.engine.begin() as db:
            changed = db.execute(update(JOBS).where(where).values(
                state=state, error=error, finished_at=time.time(), lease_until=None)).rowcount
        return changed == 1

    def requeue(self, job_id: str, note: str, worker: str | None = None) -> bool:
        where = self._held(job_id, worker) if worker is not None else JOBS.c.id == job_id
        with self.engine.begin() as db:
            changed = db.execute(update(JOBS).where(where).values(
                state="queued", note=note, claimed_by=None, lease_until=None)).rowcount
        return changed == 1

    def recover_interrupted(self, max_attempts: int, expired_only: bool = False) -> tuple[list[str], list[str]]:
        """Jobs left running by a worker that is gone: (requeued ids, failed ids). ``expired_only``: only those
        whose lease ran out (replicas: the others' workers are alive); else every running job (one process,
        at its start: whatever was running belonged to a process that is gone)."""
        requeued, failed = [], []
        with self.engine.begin() as db:
            running = select(JOBS.c.id, JOBS.c.attempts).where(JOBS.c.state == "running")
            if expired_only:
                running = running.where(or_(JOBS.c.lease_until.is_(None), JOBS.c.lease_until < time.time()))
            if self.shared:
                running = running.with_for_update(skip_locked=True)
            for job_id, attempts in db.execute(running).all():
                if attempts >= max_attempts:
                    db.execute(update(JOBS).where(JOBS.c.id == job_id).values(
                        state="failed", finished_at=time.time(), note="interrupted", claimed_by=None,
                        lease_until=None,
                        error=f"interrupted {attempts} times (server restarts or crashes while it ran); "
                              "given up: upload the files that are not done again",
                    ))  # fmt: skip
                    db.execute(update(JOB_FILES).where(JOB_FILES.c.job_id == job_id, JOB_FILES.c.status == "pending")
                               .values(status="failed", error="not ingested: the job was given up"))
                    failed.append(job_id)
                else:
                    db.execute(update(JOBS).where(JOBS.c.id == job_id).values(
                        state="queued", claimed_by=None, lease_until=None,
                        note=f"resumed after an interrupted run (attempt {attempts + 1} of {max_attempts})",
                    ))  # fmt: skip
                    requeued.append(job_id)
        return requeued, failed

    # -- reads ---------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        with self._reader.connect() as db:
            row = db.execute(select(*_JOB_COLUMNS).where(JOBS.c.id == job_id)).first()
            if row is None:
                return None
            files = db.execute(select(*_FILE_COLUMNS).where(JOB_FILES.c.job_id == job_id)
                               .order_by(JOB_FILES.c.position)).all()
        return JobRecord(*row, files=[JobFileRecord(*f) for f in files])

    def claim_of(self, job_id: str) -> tuple[str | None, float | None]:
        """(worker, lease end) of a job: who runs it now, for logs and tests."""
        with self._reader.connect() as db:
            row = db.execute(select(JOBS.c.claimed_by, JOBS.c.lease_until).where(JOBS.c.id == job_id)).first()
        return (row[0], row[1]) if row is not None else (None, None)

    def known_ids(self) -> set[str]:
        with self._reader.connect() as db:
            return set(db.execute(select(JOBS.c.id)).scalars())

    def stored_uploads(self, collection: str, doc_id: str) -> list[tuple[str, str]]:
        """(job id, stored file name) of every upload of this document into this collection."""
        query = (select(JOB_FILES.c.job_id, JOB_FILES.c.stored_name)
                 .join(JOBS, JOBS.c.id == JOB_FILES.c.job_id)
                 .where(JOBS.c.collection == collection, JOB_FILES.c.doc_id == doc_id,
                        JOB_FILES.c.stored_name.is_not(None)))
        with self._reader.connect() as db:
            return [tuple(row) for row in db.execute(query).all()]

    @staticmethod
    def _held(job_id: str, worker: str | None):
        """The job, while it runs under ``worker``'s claim."""
        return and_(JOBS.c.id == job_id, JOBS.c.state == "running", JOBS.c.claimed_by == worker)
