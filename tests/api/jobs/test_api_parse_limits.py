"""Uploads that used to hurt the server: a DOCX decompression bomb, a parser that never ends, a PDF
named .txt, names of emoji only, names over 255 bytes, a file that cannot be written."""

from __future__ import annotations

import io
import sqlite3

from fastapi.testclient import TestClient

from api.app import create_app
from api.jobs.uploads import IncomingFile, store_uploads
from ingest import parse_worker
from tests.api.helpers import LOOPBACK, REPO, SAMPLES, make_api_settings, make_settings, wait_for_job
from tests.ingest.archives import write_docx_bomb

GOOD = ("good.md", b"# Penstock\n\nThe north penstock was relined in 2019.\n", "text/markdown")


def upload(client: TestClient, *files: tuple[str, bytes, str], collection: str = "plant"):
    return client.post(f"/v1/collections/{collection}/documents", files=[("files", f) for f in files])


def started(settings, embedder) -> TestClient:
    client = TestClient(create_app(settings, make_api_settings(), embedder=embedder), **LOOPBACK)
    client.__enter__()
    return client


def test_a_docx_bomb_is_rejected_at_upload_and_the_other_file_goes_on(client, tmp_path):
    bomb = write_docx_bomb(tmp_path / "bomb.docx", megabytes=50).read_bytes()
    response = upload(client, ("bomb.docx", bomb, "application/octet-stream"), GOOD)
    assert response.status_code == 202
    bomb_record, good_record = response.json()["files"]
    assert bomb_record["status"] == "rejected"
    assert "decompression bomb" in bomb_record["error"] and "VERIRAG_ARCHIVE_MAX_RATIO" in bomb_record["error"]
    assert good_record["status"] == "pending"
    job = wait_for_job(client, response.json()["job_id"])
    assert job["state"] == "succeeded" and job["files"][1]["status"] == "ingested"


def test_a_pdf_named_txt_is_ingested_as_a_pdf(client):
    pdf = (SAMPLES / "safety_manual.pdf").read_bytes()
    response = upload(client, ("manual.txt", pdf, "text/plain"), collection="renamed")
    assert response.status_code == 202 and response.json()["files"][0]["detected_type"] == "PDF"
    job = wait_for_job(client, response.json()["job_id"])
    assert job["files"][0]["status"] == "ingested", job
    hits = client.post("/v1/retrieve", json={"question": "Aldermoor Station Safety Manual", "collection": "renamed"})
    assert hits.status_code == 200, hits.text
    texts = " ".join(passage["text"] for passage in hits.json()["passages"])
    assert "Aldermoor" in texts and "endobj" not in texts


def test_names_of_emoji_only_become_distinct_documents(client):
    first = ("😀😀😀.txt", b"The first emoji note is about the north gate.\n", "text/plain")
    second = ("😎😎😎.txt", b"The second emoji note is about the south gate.\n", "text/plain")
    response = upload(client, first, second, collection="emoji")
    assert response.status_code == 202
    records = response.json()["files"]
    assert [r["status"] for r in records] == ["pending", "pending"]
    assert records[0]["doc_id"] != records[1]["doc_id"]
    job = wait_for_job(client, response.json()["job_id"])
    assert [f["status"] for f in job["files"]] == ["ingested", "ingested"]
    listed = client.get("/v1/collections/emoji").json()
    assert {d["doc_id"] for d in listed["document_list"]} == {r["doc_id"] for r in records}


def test_a_name_over_255_bytes_is_stored_cut_and_the_other_file_is_kept(client):
    long_name = "é" * 150 + ".md"  # 303 bytes of UTF-8
    response = upload(client, (long_name, b"# Long\n\nA document with a very long name.\n", "text/markdown"), GOOD,
                      collection="longnames")
    assert response.status_code == 202, response.text
    records = response.json()["files"]
    assert [r["status"] for r in records] == ["pending", "pending"]
    assert len(records[0]["doc_id"].encode("utf-8")) <= 255 and records[0]["doc_id"].endswith(".md")
    job = wait_for_job(client, response.json()["job_id"])
    assert [f["status"] for f in job["files"]] == ["ingested", "ingested"]


class _BrokenStream(io.RawIOBase):
    def read(self, size=-1):
        raise OSError(28, "No space left on device")


def test_a_file_that_cannot_be_written_is_rejected_alone(tmp_path):
    folder = tmp_path / "uploads" / "job1"
    records = store_uploads(folder, [IncomingFile("broken.md", "text/markdown", _BrokenStream()),
                                     IncomingFile("kept.md", "text/markdown", io.BytesIO(b"# Kept\n\nText."))],
                            max_bytes=4096)
    assert [r.status for r in records] == ["rejected", "pending"]
    assert "No space left" in records[0].error
    assert sorted(p.name for p in folder.iterdir()) == ["kept.md"]

    nothing = tmp_path / "uploads" / "job2"
    records = store_uploads(nothing, [IncomingFile("broken.md", "text/markdown", _BrokenStream())], max_bytes=4096)
    assert records[0].status == "rejected" and not nothing.exists()  # no empty folder left behind


def test_a_parse_over_the_time_limit_fails_that_file_and_is_not_retried(fresh_data_dir, model_server, embedder,
                                                                          monkeypatch, tmp_path):
    parse_log = tmp_path / "parsed.txt"
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the parse child imports the test parser
    monkeypatch.setenv("VERIRAG_TEST_PARSE_LOG", str(parse_log))
    monkeypatch.setattr(parse_worker, "DEFAULT_PARSER", "tests.ingest.parsers_for_tests:misbehaving")
    settings = make_settings(fresh_data_dir(), model_server, parse_timeout_s=5)
    first = started(settings, embedder)
    try:
        spin = ("spin-forever.md", b"# Spin\n\nThe test parser loops on this file.\n", "text/markdown")
        response = upload(first, spin, GOOD)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = wait_for_job(first, job_id, timeout_s=300)
    finally:
        first.__exit__(None, None, None)
    assert job["state"] == "succeeded"
    spun, good = job["files"]
    assert spun["status"] == "failed" and "VERIRAG_PARSE_TIMEOUT_S" in spun["error"]
    assert "spin-forever.md" in spun["error"] and good["status"] == "ingested"

    # A server that died before finishing the job: the next start resumes it, but a file whose parse
    # failed is final and is not parsed into the same failure again.
    with sqlite3.connect(settings.data_dir / "api" / "jobs.sqlite3", isolation_level=None) as db:
        db.execute("UPDATE jobs SET state = 'running', finished_at = NULL WHERE id = ?", (job_id,))
    second = started(settings, embedder)
    try:
        resumed = wait_for_job(second, job_id, timeout_s=300)
    finally:
        second.__exit__(None, None, None)
    assert resumed["attempts"] == 2 and resumed["files"][0]["status"] == "failed"
    assert parse_log.read_text().split().count("spin-forever.md") == 1
