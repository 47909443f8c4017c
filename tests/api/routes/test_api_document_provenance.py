"""What a collection holds per document over HTTP (content hash, size, when and by which key it was
ingested), and deletion taking every uploaded copy of a document off the server's disk (issue 21)."""

from __future__ import annotations

import getpass
import hashlib
import re

from tests.api.helpers import COLLECTION, SAMPLES, SMALL_SAMPLES, make_api_settings, wait_for_job

BODY = b"# Spare parts\n\nThe spare impeller for Unit 3 is stored in bay 9.\n"
UPLOAD = f"/v1/collections/{COLLECTION}/documents"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def documents(client, headers: dict | None = None) -> dict[str, dict]:
    detail = client.get(f"/v1/collections/{COLLECTION}", headers=headers or {}).json()
    return {document["doc_id"]: document for document in detail["document_list"]}


def test_each_document_shows_its_hash_size_and_who_ingested_it_when(client_for):
    client = client_for(make_api_settings())
    key, token = client.app.state.verirag.keys.create([COLLECTION], "admin")
    job = client.post(UPLOAD, headers=bearer(token), files=[("files", ("spares.md", BODY, "text/markdown"))]).json()
    assert wait_for_job(client, job["job_id"], bearer(token))["state"] == "succeeded"

    listed = documents(client, bearer(token))
    uploaded = listed["spares.md"]
    assert uploaded["content_sha256"] == hashlib.sha256(BODY).hexdigest()
    assert uploaded["size_bytes"] == len(BODY) and uploaded["chunks"] >= 1
    assert ISO_UTC.match(uploaded["ingested_at"]) and uploaded["ingested_by"] == f"key:{key.id}"
    # The template collection was ingested by `verirag ingest`'s job in this process.
    sample = listed[SMALL_SAMPLES[0]]
    assert sample["ingested_by"] == f"cli:{getpass.getuser()}"
    assert sample["size_bytes"] == (SAMPLES / SMALL_SAMPLES[0]).stat().st_size
    assert sample["content_sha256"] == hashlib.sha256((SAMPLES / SMALL_SAMPLES[0]).read_bytes()).hexdigest()


def test_deleting_a_document_deletes_its_points_its_upload_and_the_emptied_job_folder(client_for):
    client = client_for(make_api_settings())
    uploads_dir = client.app.state.verirag.uploads_dir
    first = wait_for_job(client, client.post(UPLOAD, files=[("files", ("spares.md", BODY, "text/markdown"))])
                         .json()["job_id"])
    second = wait_for_job(client, client.post(UPLOAD, files=[
        ("files", ("spares.md", BODY + b"\nUpdated.\n", "text/markdown")),
        ("files", ("other.md", b"# Other\n\nThe crane is inspected every spring.\n", "text/markdown")),
    ]).json()["job_id"])
    assert (uploads_dir / first["id"] / "spares.md").is_file() and (uploads_dir / second["id"] / "spares.md").is_file()

    deleted = client.delete(f"/v1/collections/{COLLECTION}/documents/spares.md")

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["chunks_deleted"] >= 1 and deleted.json()["uploads_deleted"] == 2
    assert not (uploads_dir / first["id"]).exists()  # its only file went: the folder went too
    assert not (uploads_dir / second["id"] / "spares.md").exists()
    assert (uploads_dir / second["id"] / "other.md").is_file()  # another document's upload stays
    assert "spares.md" not in documents(client) and "other.md" in documents(client)
    audit = client.app.state.verirag.audit.path.read_text().splitlines()[-1]
    assert '"action": "delete"' in audit and '"uploads_deleted": 2' in audit


def test_a_document_not_yet_ingested_is_deleted_from_disk_and_its_job_says_so(client_for):
    client = client_for(make_api_settings(), run_worker=False)  # the job stays queued
    state = client.app.state.verirag
    job_id = client.post(UPLOAD, files=[("files", ("queued.md", BODY, "text/markdown"))]).json()["job_id"]
    stored = state.uploads_dir / job_id / "queued.md"
    assert stored.is_file()

    deleted = client.delete(f"/v1/collections/{COLLECTION}/documents/queued.md")

    assert deleted.status_code == 200 and deleted.json() == {
        "collection": COLLECTION, "doc_id": "queued.md", "chunks_deleted": 0, "uploads_deleted": 1}
    assert not stored.exists()
    state.worker.run(state.jobs.claim_next())  # the job runs later: the file is gone, nothing comes back
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["files"][0]["status"] == "failed" and "gone" in job["files"][0]["error"]
    assert "queued.md" not in documents(client)
    assert client.delete(f"/v1/collections/{COLLECTION}/documents/queued.md").status_code == 404
