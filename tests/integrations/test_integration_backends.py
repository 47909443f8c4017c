"""integrations.backend: verirag in this process and behind `verirag serve` answer the same calls alike, and
the core library never loads an integration (nor an integration the core, when it talks to a remote API)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from api.client.types import Answer, RankedPassage
from integrations.backend import connect
from rag.chunk_record import from_payload
from tests.api.helpers import COLLECTION, QUESTION, SMALL_SAMPLES
from tests.support.verirag_serve import REPO

FACT = "Unit 3 (Kaplan, 6 MW) is rated at 250 rpm and trips on overspeed at 287.5 rpm."


def test_local_and_remote_retrieve_the_same_passages(local, remote):
    here = local.search(QUESTION, collection=COLLECTION, top_k=4)
    there = remote.search(QUESTION, collection=COLLECTION, top_k=4)
    assert here and all(isinstance(p, RankedPassage) for p in here + there)
    assert [(p.doc_id, p.chunk_indexes, p.text) for p in here] == [(p.doc_id, p.chunk_indexes, p.text) for p in there]
    # The API shows sources relative to their ingest root; in this process they are the stored paths.
    assert [p.source for p in there] == [p.doc_id for p in there]
    assert all(p.source.endswith(p.doc_id) for p in here)


@pytest.mark.slow
def test_local_and_remote_answers_are_checked(local, remote, model):
    for verirag in (local, remote):
        answer = verirag.ask(QUESTION, collection=COLLECTION, top_k=4)
        assert isinstance(answer, Answer) and answer.collection == COLLECTION
        assert "287.5" in answer.answer and answer.verdict.label == "supported"
    assert answer.request_id  # the remote one came from the server


def test_verify_in_both_places_gives_the_same_verdict(local, remote):
    for answer, label in (("Unit 3 trips on overspeed at 312.5 rpm [S1].", "unsupported"),
                          ("Unit 3 trips on overspeed at 287.5 rpm [S1].", "supported")):
        verdicts = [v.verify(answer, [FACT, "Unrelated."], question=QUESTION) for v in (local, remote)]
        assert [v.label for v in verdicts] == [label, label]
        assert verdicts[0].answer_claims[0].status == verdicts[1].answer_claims[0].status


def test_collections_and_documents(local, remote):
    for verirag in (local, remote):
        [collection] = [c for c in verirag.collections() if c.name == COLLECTION]
        assert collection.documents == len(SMALL_SAMPLES)
        assert [d.doc_id for d in verirag.documents(COLLECTION)] == sorted(SMALL_SAMPLES)


def test_a_document_is_its_chunks_joined_at_their_spans(local):
    document = local.document(COLLECTION, "oncall_runbook.md")
    assert document.complete and document.title and "287.5" in document.text
    store = local.store(COLLECTION)
    records = [from_payload(hit.payload) for hit in store.chunks_of("oncall_runbook.md", range(document.chunks))]
    assert len(records) == document.chunks > 1
    for record in records:  # spans index into the text: every chunk is exactly there
        assert document.text[record.start:record.end] == record.text
    with pytest.raises(LookupError):
        local.document(COLLECTION, "no-such.md")


def test_a_remote_verirag_serves_no_document_text(remote):
    assert not remote.serves_documents
    with pytest.raises(NotImplementedError, match="document text"):
        remote.document(COLLECTION, "oncall_runbook.md")


def test_a_key_without_a_url_is_refused():
    with pytest.raises(ValueError, match="url"):
        connect(api_key="vrk_x")


def _loaded(statement: str, modules: tuple[str, ...]) -> list[str]:
    probe = f"import sys; {statement}; print(sorted(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip())  # a printed list of names


def test_importing_the_core_imports_no_integration():
    loaded = _loaded("import rag, rag.pipeline, rag.retrieval, rag.verify.verifier",
                     ("integrations", "api", "mcp", "langchain_core", "llama_index.vector_stores.qdrant"))
    assert loaded == []


def test_the_integrations_load_no_core_until_they_run_in_this_process():
    loaded = _loaded("import integrations.llamaindex, integrations.langchain, integrations.mcp_server.server",
                     ("rag", "torch", "ingest"))
    assert loaded == []
