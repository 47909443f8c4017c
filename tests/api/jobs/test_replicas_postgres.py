"""Two real `verirag serve` processes sharing one real PostgreSQL (VERIRAG_JOBS_URL) and one upload folder
(VERIRAG_API_UPLOADS_DIR), as replicas behind a load balancer: an upload sent to either is run by either and
answered by both, a replica killed with SIGKILL mid-job leaves its job to the other, and no job runs twice.

Vectors: each replica writes its own embedded collection (its own data directory). The embedded engine is
one process per directory and no Qdrant server can run on these machines; a deployment points every replica
at one Qdrant server instead (docs/deploy.md). Separate stores make the no-double-run check sharp: a job run
by both replicas would leave its document's points in both stores, so the points are counted per replica."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from api.jobs.table import JobTable
from api.state_db import engine_for
from tests.support.verirag_serve import ServedVerirag

pytestmark = pytest.mark.timeout(1800)
COLLECTION = "demo"
LEASE_S = 3  # how soon the survivor takes over a dead replica's job
JOB_WAIT_S = 600  # a hang guard, not a timing: the machine's cores are shared
SMALL_DOCS = 6


def note(number: int) -> bytes:
    return (f"# Valve note {number}\n\nValve {number} on penstock {number % 3} was inspected on day {number}. "
            f"Its seal was replaced with part V-{number:04d}.\n").encode()


def long_report() -> bytes:
    """A document of a few hundred chunks: long enough to be mid-ingest when its replica is killed."""
    sections = []
    for section in range(120):
        lines = [f"## Section {section}: turbine bay {section % 7}"]
        for line in range(12):
            lines.append(f"Reading {section}.{line}: bearing {line % 4} of unit {section % 5} ran at "
                         f"{40 + (section * line) % 50} degrees with vibration {section + line} micrometres, "
                         f"logged by crew {chr(65 + (section + line) % 26)} during shift {line % 3}.")
        sections.append("\n".join(lines))
    return ("# Plant condition report\n\n" + "\n\n".join(sections) + "\n").encode()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres_server, model_server):
    """Replicas A and B on one fresh database and one upload folder, each with its own data directory."""
    root = tmp_path_factory.mktemp("replicas")
    url = postgres_server.new_database()
    shared = {"VERIRAG_JOBS_URL": url, "VERIRAG_API_UPLOADS_DIR": str(root / "uploads"),
              "VERIRAG_API_JOB_LEASE_S": str(LEASE_S)}
    for name in ("a", "b"):
        (root / name).mkdir()
    first = ServedVerirag(root / "a", model_server.base_url, COLLECTION, extra_env=shared)
    second = ServedVerirag(root / "b", model_server.base_url, COLLECTION, extra_env=shared)
    with first, second:
        yield first, second, JobTable(engine_for(url, root, "jobs"))


def upload(replica: ServedVerirag, name: str, content: bytes) -> str:
    response = httpx.post(f"{replica.url}/v1/collections/{COLLECTION}/documents",
                          headers={"Authorization": f"Bearer {replica.key}"},
                          files=[("files", (name, content, "text/markdown"))], timeout=120)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def job_via(replica: ServedVerirag, job_id: str) -> dict:
    response = httpx.get(f"{replica.url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {replica.key}"},
                         timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def wait_until_done(replica: ServedVerirag, job_id: str) -> dict:
    deadline = time.monotonic() + JOB_WAIT_S
    while (job := job_via(replica, job_id))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']}:\n{replica.log()}"
        time.sleep(0.5)
    return job


def points_by_document(replica: ServedVerirag) -> dict[str, int]:
    """What this replica's own store holds: points per doc_id (nothing if it never wrote the collection)."""
    response = httpx.get(f"{replica.url}/v1/collections/{COLLECTION}", params={"limit": 1000},
                         headers={"Authorization": f"Bearer {replica.key}"}, timeout=120)
    if response.status_code == 404:
        return {}
    assert response.status_code == 200, response.text
    return {doc["doc_id"]: doc["chunks"] for doc in response.json()["document_list"]}


def test_any_replica_runs_and_answers_for_any_upload_and_no_job_runs_twice(replicas):
    first, second, table = replicas
    # Keys are shared too: each replica's key (made with `verirag keys create` into the database) works on both.
    assert job_via(second, upload(first, "probe.md", note(0)))["collection"] == COLLECTION

    jobs = {}
    for number in range(1, SMALL_DOCS + 1):
        sender, asker = (first, second) if number % 2 else (second, first)
        jobs[f"note-{number}.md"] = (upload(sender, f"note-{number}.md", note(number)), asker)
    finished = {name: wait_until_done(asker, job_id) for name, (job_id, asker) in jobs.items()}

    for name, job in finished.items():
        assert job["state"] == "succeeded" and job["attempts"] == 1, job
        assert [f["status"] for f in job["files"]] == ["ingested"], job
        assert job_via(first, job["id"]) == job_via(second, job["id"])  # both answer alike
    # Counting the points: each document lies in exactly one replica's store (a job run by both would leave
    # it in both), with the chunks its one run reported writing.
    stores = [points_by_document(first), points_by_document(second)]
    for name, job in finished.items():
        holders = [store[name] for store in stores if name in store]
        assert holders == [job["files"][0]["chunks_written"]], (name, stores)
        claimed_by = table.claim_of(job["id"])[0]
        owner = first if f":{first.pid}:" in claimed_by else second
        assert name in points_by_document(owner)  # the replica that claimed it is the one that wrote it


def test_a_replica_killed_mid_job_leaves_the_job_to_the_other(replicas):
    first, second, table = replicas
    job_id = upload(first, "condition-report.md", long_report())
    deadline = time.monotonic() + JOB_WAIT_S
    while (claim := table.claim_of(job_id))[0] is None:
        assert time.monotonic() < deadline, "no replica claimed the job"
        time.sleep(0.05)
    victim, survivor = (first, second) if f":{first.pid}:" in claim[0] else (second, first)
    victim.kill()
    running = table.get(job_id)
    assert running.state == "running" and running.files[0].status == "pending", "the job ended before the kill"

    job = wait_until_done(survivor, job_id)

    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2 and "resumed" in job["note"], job
    assert f":{survivor.pid}:" in table.claim_of(job_id)[0]
    written = job["files"][0]["chunks_written"]
    assert written > 50  # long enough to have been caught mid-ingest
    assert points_by_document(survivor)["condition-report.md"] == written
    assert victim._process.returncode == -signal.SIGKILL


def test_the_shared_state_really_is_postgres(replicas):
    """No SQLite job or key file was made by either replica: the state went to the database."""
    first, second, _ = replicas
    for replica in (first, second):
        api = Path(replica.env["VERIRAG_DATA_DIR"]) / "api"
        assert not (api / "jobs.sqlite3").exists() and not (api / "keys.sqlite3").exists()
