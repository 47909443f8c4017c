"""Ingest jobs and their files in SQLite under the data directory, so they outlive the process.

A job is ``queued`` → ``running`` → ``succeeded`` | ``failed``. Every file's outcome is written as
soon as it is known, so a job interrupted by a crash or a restart keeps what it finished; at the
next start :meth:`JobTable.recover_interrupted` puts it back in the queue (ingestion is idempotent:
the files already done are skipped, a half-written one is rewritten) or, after too many attempts,
fails it with a note saying so.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from api.files import private_dir, private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    state TEXT NOT NULL,
    key_id TEXT,
    error TEXT,
    note TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE TABLE IF NOT EXISTS job_files (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    stored_name TEXT,
    doc_id TEXT,
    size INTEGER NOT NULL,
    content_type TEXT,
    detected_type TEXT,
    status TEXT NOT NULL,
    error TEXT,
    chunks_written INTEGER NOT NULL DEFAULT 0,
    chunks_deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, position)
);
CREATE INDEX IF NOT EXISTS job_files_by_doc ON job_files (doc_id);
"""
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


class JobTable:
    def __init__(self, path: Path):
        private_dir(path.parent)
        private_file(path)  # job records name uploaded files and collections: the server's user only
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes --------------------------------------------------------------------------------
    def create(self, job_id: str, collection: str, key_id: str | None, files: Iterable[JobFileRecord]) -> JobRecord:
        """One transaction: a job exists with all its files, or not at all. Nothing to run → failed."""
        files = list(files)
        now = time.time()
        runnable = any(f.status == "pending" for f in files)
        state, error = ("queued", None) if runnable else ("failed", "no file was accepted; see each file's error")
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO jobs (id, collection, state, key_id, error, created_at, finished_at) VALUES (?,?,?,?,?,?,?)",
                (job_id, collection, state, key_id, error, now, None if runnable else now),
            )
            self._db.executemany(
                "INSERT INTO job_files (job_id, position, name, stored_name, doc_id, size, content_type, "
                "detected_type, status, error) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(job_id, f.position, f.name, f.stored_name, f.doc_id, f.size, f.content_type, f.detected_type,
                  f.status, f.error) for f in files],
            )
        record = self.get(job_id)
        assert record is not None
        return record

    def claim_next(self) -> JobRecord | None:
        """The oldest queued job, now running (one attempt more)."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at, id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, ?) "
                "WHERE id = ?", (time.time(), row[0]),
            )  # fmt: skip
        return self.get(row[0])

    def record_file(self, job_id: str, position: int, status: str, error: str | None = None,
                    chunks_written: int = 0, chunks_deleted: int = 0) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE job_files SET status = ?, error = ?, chunks_written = ?, chunks_deleted = ? "
                "WHERE job_id = ? AND position = ?",
                (status, error, chunks_written, chunks_deleted, job_id, position),
            )

    def finish(self, job_id: str, state: str, error: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ?", (state, error, time.time(), job_id)
            )

    def requeue(self, job_id: str, note: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET state = 'queued', note = ? WHERE id = ?", (note, job_id))

    def recover_interrupted(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """Jobs left running by a process that is gone: (requeued ids, failed ids)."""
        requeued, failed = [], []
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute("SELECT id, attempts FROM jobs WHERE state = 'running'").fetchall()
            for job_id, attempts in rows:
                if attempts >= max_attempts:
                    self._db.execute(
                        "UPDATE jobs SET state = 'failed', finished_at = ?, error = ?, note = ? WHERE id = ?",
                        (time.time(), f"interrupted {attempts} times (server restarts or crashes while it ran); "
                         "given up: upload the files that are not done again",
                         "interrupted", job_id),
                    )  # fmt: skip
                    self._db.execute(
                        "UPDATE job_files SET status = 'failed', error = 'not ingested: the job was given up' "
                        "WHERE job_id = ? AND status = 'pending'", (job_id,),
                    )  # fmt: skip
                    failed.append(job_id)
                else:
                    self._db.execute(
                        "UPDATE jobs SET state = 'queued', note = ? WHERE id = ?",
                        (f"resumed after an interrupted run (attempt {attempts + 1} of {max_attempts})", job_id),
                    )
                    requeued.append(job_id)
        return requeued, failed

    # -- reads ---------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, collection, state, key_id, error, note, attempts, created_at, started_at, finished_at "
                "FROM jobs WHERE id = ?", (job_id,),
            ).fetchone()  # fmt: skip
            if row is None:
                return None
            files = self._db.execute(
                "SELECT position, name, stored_name, doc_id, size, content_type, detected_type, status, error, "
                "chunks_written, chunks_deleted FROM job_files WHERE job_id = ? ORDER BY position", (job_id,),
            ).fetchall()  # fmt: skip
        return JobRecord(*row, files=[JobFileRecord(*f) for f in files])

    def known_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM jobs")}

    def stored_uploads(self, collection: str, doc_id: str) -> list[tuple[str, str]]:
        """(job id, stored file name) of every upload of this document into this collection."""
        with self._lock:
            return self._db.execute(
                "SELECT f.job_id, f.stored_name FROM job_files f JOIN jobs j ON j.id = f.job_id "
                "WHERE j.collection = ? AND f.doc_id = ? AND f.stored_name IS NOT NULL", (collection, doc_id),
            ).fetchall()  # fmt: skip
