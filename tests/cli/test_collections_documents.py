"""`verirag collections NAME`: one collection's documents with their content hash, size, and when and by
whom each was ingested (issue 21)."""

from __future__ import annotations

import getpass
import hashlib
import json

from typer.testing import CliRunner

from cli.app import app
from ingest.job import IngestJob, IngestOptions
from rag.settings import Settings

NOTE = b"# Valves\n\nThe Aster valve opens at 12 bar.\n"


def test_the_documents_of_a_collection_are_listed_with_their_provenance(tmp_path, monkeypatch, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "valves.md").write_bytes(NOTE)
    data_dir = tmp_path / "data"
    report = IngestJob(Settings(data_dir=data_dir), embedder).run(
        IngestOptions(paths=[str(docs)], collection="plant", progress=False))
    assert not report.failures
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(data_dir))
    runner = CliRunner()

    listed = runner.invoke(app, ["collections", "plant", "--json"])
    table = runner.invoke(app, ["collections", "plant"])
    missing = runner.invoke(app, ["collections", "nowhere"])

    assert listed.exit_code == 0, listed.output
    [document] = json.loads(listed.stdout)["documents"]
    assert document["doc_id"] == "valves.md" and document["chunks"] >= 1
    assert document["content_sha256"] == hashlib.sha256(NOTE).hexdigest() and document["size_bytes"] == len(NOTE)
    assert document["ingested_by"] == f"cli:{getpass.getuser()}" and document["ingested_at"].endswith("Z")
    assert table.exit_code == 0 and "valves.md" in table.stdout
    assert hashlib.sha256(NOTE).hexdigest()[:12] in table.stdout and f"cli:{getpass.getuser()}" in table.stdout
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert runner.invoke(app, ["collections", "--json"]).exit_code == 0  # the listing of collections stays
