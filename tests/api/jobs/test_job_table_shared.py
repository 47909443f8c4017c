"""The job table as replicas share it (api.jobs.table on api.state_db): concurrent claims never return one
job twice, a claim lives by its lease, and a worker that lost its lease can no longer write. Run against a
real PostgreSQL (FOR UPDATE SKIP LOCKED) and against the embedded SQLite file (BEGIN IMMEDIATE) alike."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import update

from api.audit import AuditLog
from api.jobs.table import JOBS, JobFileRecord, JobTable
from api.keys import KeyStore
from api.state_db import StateDatabaseError, engine_for, is_postgres
from api.usage import UsageStore

JOB_COUNT = 40
CLAIMERS = 6


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return engine_for(url, tmp_path / "data", "jobs")


def pending(position: int = 0) -> JobFileRecord:
    return JobFileRecord(position, f"f{position}.md", f"f{position}.md", f"f{position}.md", 10, "text/markdown",
                         "text/markdown", "pending")


def queue_jobs(table: JobTable, count: int) -> list[str]:
    ids = [f"{index:032x}" for index in range(count)]
    for job_id in ids:
        table.create(job_id, "demo", None, [pending()])
    return ids


def test_concurrent_claims_never_return_the_same_job(engine):
    table = JobTable(engine)
    ids = queue_jobs(table, JOB_COUNT)
    claimed: dict[str, list[str]] = {f"worker-{n}": [] for n in range(CLAIMERS)}
    start = threading.Barrier(CLAIMERS)

    def claim_all(worker: str) -> None:
        start.wait()
        while (job := table.claim_next(worker)) is not None:
            claimed[worker].append(job.id)

    threads = [threading.Thread(target=claim_all, args=(worker,)) for worker in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    every_claim = [job_id for jobs in claimed.values() for job_id in jobs]
    assert sorted(every_claim) == ids  # each job exactly once: none twice, none left behind
    for worker, jobs in claimed.items():
        for job_id in jobs:
            assert table.claim_of(job_id)[0] == worker
            assert table.get(job_id).attempts == 1
    if is_postgres(engine):
        assert sum(1 for jobs in claimed.values() if jobs) > 1  # the claims really ran side by side


def test_a_lease_is_renewed_by_its_worker_only(engine):
    table = JobTable(engine, lease_s=30)
    [job_id] = queue_jobs(table, 1)
    table.claim_next("a")
    _, first_end = table.claim_of(job_id)
    assert table.renew(job_id, "a") and table.claim_of(job_id)[1] >= first_end
    assert not table.renew(job_id, "b")


def test_a_job_whose_lease_ran_out_is_taken_over_and_its_old_worker_fenced_off(engine):
    table = JobTable(engine, lease_s=30)
    live, dead = queue_jobs(table, 2)
    assert table.claim_next("alive").id == live
    assert table.claim_next("dead").id == dead
    with engine.begin() as db:  # the dead worker's lease ran out (no renewal since)
        db.execute(update(JOBS).where(JOBS.c.id == dead).values(lease_until=time.time() - 1))

    assert table.recover_interrupted(3, expired_only=True) == ([dead], [])
    assert table.get(live).state == "running"  # a live worker's job is left alone
    job = table.get(dead)
    assert job.state == "queued" and "resumed" in job.note

    taken = table.claim_next("heir")
    assert taken.id == dead and taken.attempts == 2
    # The first worker wakes up: everything it writes is refused, the heir's writes land.
    assert not table.record_file(dead, 0, "ingested", None, 5, 0, worker="dead")
    assert not table.finish(dead, "succeeded", worker="dead")
    assert table.record_file(dead, 0, "ingested", None, 7, 0, worker="heir")
    assert table.finish(dead, "succeeded", worker="heir")
    done = table.get(dead)
    assert done.state == "succeeded" and done.files[0].chunks_written == 7


def test_a_job_whose_lease_ran_out_too_often_is_failed(engine):
    table = JobTable(engine, lease_s=30)
    [job_id] = queue_jobs(table, 1)
    table.claim_next("w")
    with engine.begin() as db:
        db.execute(update(JOBS).where(JOBS.c.id == job_id).values(attempts=3, lease_until=time.time() - 1))
    assert table.recover_interrupted(3, expired_only=True) == ([], [job_id])
    job = table.get(job_id)
    assert job.state == "failed" and "interrupted 3 times" in job.error
    assert job.files[0].status == "failed"


def test_keys_usage_and_audit_are_one_store_for_every_replica(postgres_url, tmp_path):
    from sqlalchemy import create_engine

    # Two engines on one database: what two API processes hold.
    first = engine_for(postgres_url, tmp_path / "a", "keys")
    second = create_engine(first.url)
    key, token = KeyStore(first).create(["demo"], "write")
    assert KeyStore(second).authenticate(token).id == key.id
    KeyStore(second).revoke(key.id)
    assert KeyStore(first).get(key.id).revoked_at is not None

    adds, threads = 25, 4

    def spend(engine) -> None:
        store = UsageStore(engine)
        for _ in range(adds):
            store.add("k1", "2026-12-03", 10, 5, 0.001)

    workers = [threading.Thread(target=spend, args=(engine,)) for engine in (first, second) * (threads // 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    day = UsageStore(first).day("k1", "2026-12-03")
    assert (day.requests, day.prompt_tokens, day.completion_tokens) == (adds * threads, 10 * adds * threads,
                                                                       5 * adds * threads)

    AuditLog(None, engine=first).record("query", "k1", "demo", question="first")
    AuditLog(None, engine=second).record("query", "k2", "demo", question="second")
    entries = AuditLog(None, engine=first).entries()
    assert [(e["key_id"], e["question"]) for e in entries] == [("k1", "first"), ("k2", "second")]
    second.dispose()


def test_a_url_that_is_not_postgres_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(StateDatabaseError, match="must be a PostgreSQL URL"):
        engine_for("mysql://user@host/db", tmp_path, "jobs")
    with pytest.raises(StateDatabaseError, match="psycopg"):
        engine_for("postgresql+asyncpg://user@host/db", tmp_path, "jobs")
