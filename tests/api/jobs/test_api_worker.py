"""Ingest jobs survive the process (api.jobs.worker, api.jobs.table): a job interrupted by a crash or a
shutdown is resumed by the next start, or failed with a note once it was interrupted too often."""

from __future__ import annotations

import sqlite3
import threading

from fastapi.testclient import TestClient

from api.app import create_app
from api.jobs import worker as worker_module
from tests.api.helpers import LOOPBACK, make_api_settings, make_settings, wait_for_job

FILES = [
    ("one.md", b"# One\n\nThe north penstock was relined in 2019.\n", "text/markdown"),
    ("two.md", b"# Two\n\nThe south penstock was relined in 2021.\n", "text/markdown"),
]


def started(settings, embedder, **options) -> TestClient:
    client = TestClient(create_app(settings, make_api_settings(), embedder=embedder, **options), **LOOPBACK)
    client.__enter__()
    return client


def enqueue(client) -> str:
    response = client.post("/v1/collections/plant/documents", files=[("files", f) for f in FILES])
    assert response.status_code == 202
    return response.json()["job_id"]


def jobs_db(settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.data_dir / "api" / "jobs.sqlite3", isolation_level=None)


def test_a_job_left_running_by_a_crash_is_resumed(fresh_data_dir, model_server, embedder):
    settings = make_settings(fresh_data_dir(), model_server)
    first = started(settings, embedder, run_worker=False)
    job_id = enqueue(first)
    first.__exit__(None, None, None)
    # What a process killed mid-job leaves behind: the job running, its first attempt counted.
    with jobs_db(settings) as db:
        db.execute("UPDATE jobs SET state = 'running', attempts = 1, started_at = 1 WHERE id = ?", (job_id,))

    second = started(settings, embedder)
    try:
        job = wait_for_job(second, job_id)
    finally:
        second.__exit__(None, None, None)

    assert job["state"] == "succeeded" and job["attempts"] == 2
    assert "resumed" in job["note"]
    assert [f["status"] for f in job["files"]] == ["ingested", "ingested"]


def test_a_job_interrupted_too_often_is_failed_with_a_note(fresh_data_dir, model_server, embedder):
    settings = make_settings(fresh_data_dir(), model_server)
    first = started(settings, embedder, run_worker=False)
    job_id = enqueue(first)
    first.__exit__(None, None, None)
    with jobs_db(settings) as db:
        db.execute("UPDATE jobs SET state = 'running', attempts = 3 WHERE id = ?", (job_id,))

    second = started(settings, embedder)
    try:
        job = second.get(f"/v1/jobs/{job_id}").json()
    finally:
        second.__exit__(None, None, None)

    assert job["state"] == "failed" and job["note"] == "interrupted"
    assert "interrupted 3 times" in job["error"]
    assert all(f["status"] == "failed" and "given up" in f["error"] for f in job["files"])


def test_a_shutdown_mid_job_puts_it_back_in_the_queue(fresh_data_dir, model_server, embedder, monkeypatch):
    settings = make_settings(fresh_data_dir(), model_server)
    entered, release = threading.Event(), threading.Event()
    real_run = worker_module.IngestJob.run

    def gated_run(self, options):
        entered.set()
        release.wait(60)
        return real_run(self, options)

    monkeypatch.setattr(worker_module.IngestJob, "run", gated_run)
    first = started(settings, embedder)
    job_id = enqueue(first)
    assert entered.wait(60)  # the worker is inside the first file
    stopping = threading.Thread(target=first.__exit__, args=(None, None, None))
    stopping.start()  # the server shuts down while the file is being ingested
    release.set()
    stopping.join(60)

    with jobs_db(settings) as db:
        state, note = db.execute("SELECT state, note FROM jobs WHERE id = ?", (job_id,)).fetchone()
        statuses = [row[0] for row in db.execute("SELECT status FROM job_files WHERE job_id = ? ORDER BY position",
                                                 (job_id,))]
    assert state == "queued" and "shutdown" in note
    assert statuses == ["ingested", "pending"]  # the file in progress was finished, the next one waits

    monkeypatch.setattr(worker_module.IngestJob, "run", real_run)
    second = started(settings, embedder)
    try:
        job = wait_for_job(second, job_id)
    finally:
        second.__exit__(None, None, None)
    assert job["state"] == "succeeded" and [f["status"] for f in job["files"]] == ["ingested", "ingested"]


def test_files_gone_from_disk_are_failed_not_lost(fresh_data_dir, model_server, embedder):
    settings = make_settings(fresh_data_dir(), model_server)
    first = started(settings, embedder, run_worker=False)
    job_id = enqueue(first)
    first.__exit__(None, None, None)
    (settings.data_dir / "api" / "uploads" / job_id / "two.md").unlink()

    second = started(settings, embedder)
    try:
        job = wait_for_job(second, job_id)
    finally:
        second.__exit__(None, None, None)
    assert job["state"] == "succeeded"
    assert job["files"][1]["status"] == "failed" and "upload it again" in job["files"][1]["error"]


def test_upload_folders_without_a_job_are_removed_at_start(fresh_data_dir, model_server, embedder):
    settings = make_settings(fresh_data_dir(), model_server)
    orphan = settings.data_dir / "api" / "uploads" / ("f" * 32)
    orphan.mkdir(parents=True)
    (orphan / "half.md").write_text("a request that crashed before its job was recorded")
    client = started(settings, embedder, run_worker=False)
    client.__exit__(None, None, None)
    assert not orphan.exists()
