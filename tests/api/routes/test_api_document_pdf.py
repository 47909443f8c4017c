"""GET /v1/collections/{name}/documents/{doc_id}/pdf: the uploaded PDF behind a cited passage, for
clients that show the page itself (the web page does, with pdf.js). Only uploaded PDFs the server
still holds are served, as attachments that cannot run as a page of the API's origin."""

from __future__ import annotations

from tests.api.helpers import COLLECTION, SAMPLES, make_api_settings, wait_for_job

PDF = SAMPLES / "safety_manual.pdf"


def upload(client, collection, files, headers=None):
    response = client.post(f"/v1/collections/{collection}/documents", headers=headers or {},
                           files=[("files", (name, data, ctype)) for name, data, ctype in files])
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job_id"], headers)
    assert job["state"] == "succeeded", job
    return job


def test_an_uploaded_pdf_is_served_back_as_an_attachment_until_it_is_deleted(client):
    upload(client, "manuals", [("safety_manual.pdf", PDF.read_bytes(), "application/pdf"),
                               ("notes.md", b"# Notes\n\nThe intake screen is raked daily.\n", "text/markdown")])

    response = client.get("/v1/collections/manuals/documents/safety_manual.pdf/pdf")
    assert response.status_code == 200
    assert response.content == PDF.read_bytes()
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]

    markdown = client.get("/v1/collections/manuals/documents/notes.md/pdf")  # held, but not a PDF
    assert markdown.status_code == 404 and markdown.json()["error"]["type"] == "document_file_not_found"

    assert client.delete("/v1/collections/manuals/documents/safety_manual.pdf").status_code == 200
    gone = client.get("/v1/collections/manuals/documents/safety_manual.pdf/pdf")
    assert gone.status_code == 404 and gone.json()["error"]["param"] == "doc_id"


def test_a_document_ingested_from_a_folder_has_no_file_to_serve(client):
    response = client.get(f"/v1/collections/{COLLECTION}/documents/oncall_runbook.md/pdf")
    assert response.status_code == 404
    assert "only PDFs uploaded through the API" in response.json()["error"]["message"]


def test_the_newest_upload_of_a_document_is_the_one_served(client):
    first = PDF.read_bytes()
    upload(client, "versions", [("manual.pdf", first, "application/pdf")])
    second = first.replace(b"Revision 4", b"Revision 5")
    assert second != first
    upload(client, "versions", [("manual.pdf", second, "application/pdf")])
    assert client.get("/v1/collections/versions/documents/manual.pdf/pdf").content == second


def test_a_key_reads_the_pdfs_of_its_own_collections_only(client_for):
    client = client_for(make_api_settings())
    store = client.app.state.verirag.keys
    writer = {"Authorization": f"Bearer {store.create(['manuals'], 'write')[1]}"}
    outsider = {"Authorization": f"Bearer {store.create([COLLECTION], 'read')[1]}"}
    upload(client, "manuals", [("safety_manual.pdf", PDF.read_bytes(), "application/pdf")], writer)
    path = "/v1/collections/manuals/documents/safety_manual.pdf/pdf"

    assert client.get(path).status_code == 401
    assert client.get(path, headers=outsider).status_code == 403
    assert client.get(path, headers=writer).status_code == 200
