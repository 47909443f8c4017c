"""Collections, uploads, ingest jobs and deletions over HTTP, with bad files among the good ones."""

from __future__ import annotations

import shutil

import pytest

from tests.api.helpers import COLLECTION, SAMPLES, make_api_settings, wait_for_job

FACT = "The Glenbrook intake screen is raked every 36 hours by the night shift."


def upload(client, collection: str, files: list[tuple[str, bytes, str]]):
    return client.post(f"/v1/collections/{collection}/documents",
                       files=[("files", (name, data, ctype)) for name, data, ctype in files])


def blank_pdf() -> bytes:
    """A valid one-page PDF with no text on it."""
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.showPage()
    page.save()
    return buffer.getvalue()


def test_collections_are_listed_with_counts(client):
    [collection] = client.get("/v1/collections").json()["collections"]
    assert collection["name"] == COLLECTION and collection["documents"] == 3 and collection["points"] > 3
    detail = client.get(f"/v1/collections/{COLLECTION}").json()
    assert {d["doc_id"] for d in detail["document_list"]} == {"oncall_runbook.md", "release_notes.txt",
                                                               "maintenance_log.csv"}
    page = client.get(f"/v1/collections/{COLLECTION}", params={"offset": 1, "limit": 1}).json()
    assert len(page["document_list"]) == 1 and page["document_list"][0] == detail["document_list"][1]


def test_an_unknown_collection_is_404_and_a_bad_name_422(client):
    assert client.get("/v1/collections/nowhere").status_code == 404
    assert client.get("/v1/collections/..%2F..").status_code in (404, 422)
    assert client.get("/v1/collections/-bad").status_code == 422


def test_upload_ingests_good_files_and_reports_each_bad_one(client):
    docx = (SAMPLES / "hr_oncall_policy.docx").read_bytes()
    response = upload(client, "fresh", [
        ("intake.md", f"# Intake\n\n{FACT}\n".encode(), "text/markdown"),
        ("empty.pdf", b"", "application/pdf"),
        ("blank.pdf", blank_pdf(), "application/pdf"),
        ("truncated.docx", docx[: len(docx) // 3], "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("binary.txt", bytes(range(256)) * 16, "text/plain"),
        ("../../../outside.txt", b"Plain text that tried to escape.", "text/plain"),
    ])  # fmt: skip

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["collection"] == "fresh" and accepted["state"] == "queued"
    assert response.headers["location"] == accepted["status_url"] == f"/v1/jobs/{accepted['job_id']}"
    job = wait_for_job(client, accepted["job_id"])

    assert job["state"] == "succeeded", job
    files = {f["name"]: f for f in job["files"]}
    assert files["intake.md"]["status"] == "ingested" and files["intake.md"]["chunks_written"] >= 1
    assert files["empty.pdf"]["status"] == "rejected" and "empty" in files["empty.pdf"]["error"]
    assert files["blank.pdf"]["status"] == "failed" and "no text layer" in files["blank.pdf"]["error"]
    assert files["truncated.docx"]["status"] == "rejected" and "truncated" in files["truncated.docx"]["error"]
    assert files["binary.txt"]["status"] == "rejected" and "binary" in files["binary.txt"]["error"]
    assert files["../../../outside.txt"]["doc_id"] == "outside.txt"
    assert files["../../../outside.txt"]["status"] == "ingested"
    assert job["progress"] == {"files_total": 6, "files_done": 6, "fraction": 1.0}

    data_dir = client.app.state.verirag.settings.data_dir
    assert not (data_dir.parent / "outside.txt").exists() and not list(data_dir.parent.glob("**/outside.txt.part"))
    hits = client.post("/v1/retrieve", json={"question": "How often is the intake screen raked?",
                                             "collection": "fresh"}).json()["passages"]
    assert hits[0]["doc_id"] == "intake.md" and "36 hours" in hits[0]["text"]


def test_uploading_the_same_file_again_changes_nothing(client):
    files = [("same.md", b"# Same\n\nThe pump house key is kept in cabinet 4.\n", "text/markdown")]
    first = wait_for_job(client, upload(client, "again", files).json()["job_id"])
    second = wait_for_job(client, upload(client, "again", files).json()["job_id"])
    assert first["files"][0]["status"] == "ingested"
    assert second["files"][0]["status"] == "unchanged" and second["state"] == "succeeded"


def test_a_job_with_only_bad_files_fails_with_the_reasons(client):
    response = upload(client, "bad-only", [("x.txt", b"\x00\x01\x02\x03", "text/plain")])
    job = client.get(response.json()["status_url"]).json()
    assert job["state"] == "failed" and "no file was accepted" in job["error"]
    assert "binary" in job["files"][0]["error"]


def test_deleting_a_document_removes_its_chunks_and_its_upload(client):
    body = b"# Doomed\n\nThe spare impeller is stored in bay 9.\n"
    job = wait_for_job(client, upload(client, COLLECTION, [("doomed.md", body, "text/markdown")]).json()["job_id"])
    stored = client.app.state.verirag.uploads_dir / job["id"] / "doomed.md"
    assert stored.is_file()

    deleted = client.delete(f"/v1/collections/{COLLECTION}/documents/doomed.md")

    assert deleted.status_code == 200 and deleted.json()["chunks_deleted"] >= 1
    assert not stored.exists()
    docs = {d["doc_id"] for d in client.get(f"/v1/collections/{COLLECTION}").json()["document_list"]}
    assert "doomed.md" not in docs
    again = client.delete(f"/v1/collections/{COLLECTION}/documents/doomed.md")
    assert again.status_code == 404 and again.json()["error"]["type"] == "document_not_found"


def test_upload_limits(client_for):
    client = client_for(make_api_settings(max_upload_files=2, max_upload_mb=0.001))
    too_many = upload(client, "limits", [(f"{i}.txt", b"words", "text/plain") for i in range(3)])
    assert too_many.status_code == 400 and "VERIRAG_API_MAX_UPLOAD_FILES" in too_many.json()["error"]["message"]
    oversized = upload(client, "limits", [("big.txt", b"word " * 400, "text/plain")])
    assert oversized.status_code == 202
    assert "too large" in client.get(oversized.json()["status_url"]).json()["files"][0]["error"]


def test_a_body_over_the_limit_is_413(client_for):
    client = client_for(make_api_settings(max_body_kb=1))
    response = client.post("/v1/retrieve", json={"question": "x" * 2000})
    assert response.status_code == 413 and "VERIRAG_API_MAX_BODY_KB" in response.json()["error"]["message"]
    chunked = client.post("/v1/retrieve", content=iter([b'{"question": "', b"x" * 2000, b'"}']),
                          headers={"content-type": "application/json"})
    assert chunked.status_code == 413


def test_unknown_job_is_404(client):
    assert client.get("/v1/jobs/" + "0" * 32).status_code == 404
    assert client.get("/v1/jobs/not-a-job-id").status_code == 422


@pytest.mark.shared_data
def test_shared_edge_case_files_each_get_an_outcome(client, shared_datasets):
    folder = shared_datasets / "docs" / "edge-cases"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    huge = "pdf__pdf2image-memory-error-test-400p.pdf"  # minutes of embedding: tests/ingest covers it
    files = [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted(folder.iterdir()) if p.name != huge]

    job = wait_for_job(client, upload(client, "edge", files).json()["job_id"], timeout_s=600)

    assert job["state"] == "succeeded"
    outcomes = {f["name"]: f for f in job["files"]}
    refused = {"empty.txt": "empty", "password_protected.xlsx": "password", "pdf__password.pdf": "password"}
    if shutil.which("tesseract") is None:  # a scan: read by OCR where tesseract is installed
        refused["pdf__loremipsum-flat.pdf"] = "no text layer"
    else:
        assert outcomes["pdf__loremipsum-flat.pdf"]["status"] == "ingested"
    for name, phrase in refused.items():
        assert outcomes[name]["status"] in ("rejected", "failed") and phrase in outcomes[name]["error"], outcomes[name]
    for outcome in outcomes.values():
        assert outcome["status"] in ("ingested", "failed", "rejected")
        assert (outcome["error"] is None) == (outcome["status"] == "ingested")
        assert "unexpected error" not in (outcome["error"] or "")
    assert outcomes["stanley-cups-utf-16.csv"]["status"] == "ingested"
