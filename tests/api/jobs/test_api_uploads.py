"""Uploads on disk (api.jobs.uploads, api.jobs.sniff): names that cannot escape, bytes that must match
what the file claims to be."""

from __future__ import annotations

import io
import zipfile

import pytest

from api.jobs.sniff import sniff_file
from api.jobs.uploads import IncomingFile, UnsafeName, safe_file_name, store_uploads
from tests.api.helpers import SAMPLES


@pytest.mark.parametrize("raw,expected", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\evil.md", "evil.md"),
    ("/abs/path/notes.md", "notes.md"),
    (".hidden.txt", "hidden.txt"),
    ("-rf notes.txt", "rf notes.txt"),
    ("new\nline\x00.txt", "newline.txt"),
])  # fmt: skip
def test_names_become_plain_file_names(raw, expected):
    assert safe_file_name(raw) == expected


@pytest.mark.parametrize("raw,start", [("résumé €.md", "résumé-"), ("a;b|c$(d).txt", "a_b_c_(d)-")])
def test_names_that_lose_characters_keep_a_hash_of_the_original(raw, start):
    name = safe_file_name(raw)
    assert name.startswith(start) and name.endswith(raw.rsplit(".", 1)[1]) and name != safe_file_name(raw + " ")


@pytest.mark.parametrize("raw", ["", "..", "../..", "/", "\x00\x01", None])
def test_names_with_nothing_left_are_refused(raw):
    with pytest.raises(UnsafeName):
        safe_file_name(raw)


def test_long_names_keep_their_extension():
    name = safe_file_name("x" * 500 + ".docx")
    assert len(name) <= 180 and name.endswith(".docx")


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def docx_bytes() -> bytes:
    return (SAMPLES / "hr_oncall_policy.docx").read_bytes()


@pytest.mark.parametrize("name,data,claimed,phrase", [
    ("empty.pdf", b"", "application/pdf", "empty"),
    ("page.pdf", b"<html><body>not a pdf</body></html>", None, "no %PDF- header"),
    ("notes.txt", bytes(range(256)) * 8, "text/plain", "binary data"),
    ("notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "binary data"),
    ("policy.docx", docx_bytes()[: len(docx_bytes()) // 2], None, "truncated"),
    ("policy.docx", b"plain text, not a zip", None, "ZIP archive"),
    ("sheet.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, None, "password-protected"),
    ("notes.txt", b"plain words", "application/pdf", "Content-Type"),
    ("tool.exe", b"MZ\x90\x00", None, "unsupported file type"),
    ("corpus.jsonl", b'{"id": 1, "text": "x"}\n', None, "verirag ingest"),
])  # fmt: skip
def test_bytes_that_do_not_match_the_claim_are_rejected(tmp_path, name, data, claimed, phrase):
    sniffed = sniff_file(write(tmp_path, name, data), name, claimed)
    assert not sniffed.accepted and phrase in sniffed.error


@pytest.mark.parametrize("name,claimed", [
    ("safety_manual.pdf", "application/pdf"),
    ("hr_oncall_policy.docx", "application/octet-stream"),
    ("oncall_runbook.md", "text/markdown"),
    ("product_faq.html", "text/html"),
    ("maintenance_log.csv", None),
    ("release_notes.txt", "text/plain; charset=utf-8"),
])  # fmt: skip
def test_real_documents_are_accepted(name, claimed):
    sniffed = sniff_file(SAMPLES / name, name, claimed)
    assert sniffed.accepted, sniffed.error


def test_utf16_and_latin1_text_count_as_text(tmp_path):
    utf16 = write(tmp_path, "u16.csv", "\ufeffa,b\n1,2\n".encode("utf-16-le"))
    latin1 = write(tmp_path, "l1.md", "## Kühe\n\nGrüße aus Köln".encode("latin-1"))
    assert sniff_file(utf16, "u16.csv", "text/csv").accepted
    assert sniff_file(latin1, "l1.md", None).accepted


def test_a_zip_that_is_not_an_office_file_is_rejected(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    sniffed = sniff_file(write(tmp_path, "fake.docx", buffer.getvalue()), "fake.docx", None)
    assert not sniffed.accepted and "word/" in sniffed.error


def test_store_uploads_keeps_accepted_files_inside_the_job_folder(tmp_path):
    folder = tmp_path / "uploads" / "job1"
    records = store_uploads(folder, [
        IncomingFile("../../escape.md", "text/markdown", io.BytesIO(b"# Title\n\nBody text.")),
        IncomingFile("escape.md", "text/markdown", io.BytesIO(b"# Again")),
        IncomingFile("big.txt", "text/plain", io.BytesIO(b"x" * 5000)),
        IncomingFile("bin.txt", "text/plain", io.BytesIO(bytes(range(256)))),
    ], max_bytes=4096)  # fmt: skip

    assert [r.status for r in records] == ["pending", "rejected", "rejected", "rejected"]
    assert records[0].doc_id == "escape.md" and records[0].name == "../../escape.md"
    assert "also named" in records[1].error
    assert "too large" in records[2].error and "VERIRAG_API_MAX_UPLOAD_MB" in records[2].error
    assert "binary" in records[3].error
    assert sorted(p.name for p in folder.iterdir()) == ["escape.md"]  # rejected bytes are not kept
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [folder / "escape.md"]
