"""api.client against a real `verirag serve` on loopback (a child process with API keys), its model a DeepSeek
wire-format server in this process: typed results, streamed events, uploads and jobs, errors as exceptions
that carry the API's error body."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from api.client import (
    Answer,
    AnswerEvent,
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Client,
    DoneEvent,
    ModelProviderError,
    NotFoundError,
    PermissionDeniedError,
    RankedPassage,
    ReasoningEvent,
    RetrievalEvent,
    UnprocessableEntityError,
    VerificationEvent,
)
from tests.api.helpers import COLLECTION, QUESTION, SMALL_SAMPLES, grounded_reply
from tests.support.deepseek_server import Reply, label_holding
from tests.support.verirag_serve import REPO, ServedVerirag, free_port

pytestmark = pytest.mark.slow

RUNBOOK_FACT = "Unit 3 (Kaplan, 6 MW) is rated at 250 rpm and trips on overspeed at 287.5 rpm."


@pytest.fixture(scope="module")
def served(data_dir, model_server):
    with ServedVerirag(data_dir, model_server.base_url, COLLECTION) as server:
        yield server


@pytest.fixture
def client(served, model):
    model.responder = grounded_reply
    with Client(served.url, api_key=served.key) as client:
        yield client


def test_query_answers_with_typed_citations_and_verdict(client):
    answer = client.query(QUESTION, collection=COLLECTION, top_k=4)
    assert isinstance(answer, Answer) and answer.request_id and answer.collection == COLLECTION
    assert "287.5" in answer.answer
    [citation] = answer.citations
    [cited] = [passage for passage in answer.passages if passage.label == citation.label]
    assert "287.5" in citation.text and (citation.doc_id, citation.text) == (cited.doc_id, cited.text)
    assert answer.verdict is not None and answer.verdict.label == "supported"
    assert [claim.status for claim in answer.verdict.answer_claims] == ["supported"]
    assert answer.passages and all(passage.label.startswith("S") for passage in answer.passages)


def test_a_conversation_id_makes_the_next_question_a_follow_up(client, model):
    def cite_trip_speed(body: dict) -> Reply:  # a conversation's sources are in its user messages
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
        return Reply(reasoning="", content=f"Unit 3 trips at 287.5 rpm [{label_holding(text, '287.5')}].")

    model.responder = cite_trip_speed
    first = client.query(QUESTION, collection=COLLECTION, conversation="client-conversation")
    second = client.query("And what is it rated at?", collection=COLLECTION, conversation="client-conversation")
    assert first.conversation["turn"] == 1 and second.conversation["turn"] == 2
    assert second.conversation["retrieval_query"].startswith("And what is it rated at? (")
    assert client.query(QUESTION, collection=COLLECTION).conversation is None


def test_a_stream_is_typed_events_in_order_ending_with_the_whole_result(client):
    events = list(client.query_stream(QUESTION, collection=COLLECTION, top_k=4))
    kinds = [type(event) for event in events]
    assert kinds[0] is RetrievalEvent and kinds[-1] is DoneEvent
    assert kinds.index(ReasoningEvent) < kinds.index(AnswerEvent) < kinds.index(VerificationEvent)
    done = events[-1].result
    assert "".join(e.text for e in events if isinstance(e, AnswerEvent)) == done.answer
    [verification] = [e for e in events if isinstance(e, VerificationEvent)]
    assert verification.verdict.label == done.verdict.label == "supported"
    assert [p.doc_id for p in events[0].passages] == [p.doc_id for p in done.passages]


def test_a_failure_after_the_stream_started_raises_its_status_with_the_body(client, model):
    model.script(Reply(status=401))  # the provider refuses the key: 502 from verirag, after retrieval
    seen = []
    with pytest.raises(ModelProviderError) as raised:
        for event in client.query_stream(QUESTION, collection=COLLECTION):
            seen.append(event)
    assert [type(event) for event in seen] == [RetrievalEvent]
    error = raised.value
    assert error.during_stream and error.status_code == 502 and error.request_id
    assert error.body["error"]["message"] == error.message and "DEEPSEEK_API_KEY" in error.message


def test_the_async_client_answers_and_streams(served, model):
    model.responder = grounded_reply

    async def main():
        async with AsyncClient(served.url, api_key=served.key) as client:
            answer = await client.query(QUESTION, collection=COLLECTION, top_k=4)
            events = [event async for event in client.query_stream(QUESTION, collection=COLLECTION, top_k=4)]
            retrieval = await client.retrieve(QUESTION, collection=COLLECTION, top_k=2)
            return answer, events, retrieval

    answer, events, retrieval = asyncio.run(main())
    assert answer.verdict.label == "supported" and "287.5" in answer.answer
    assert isinstance(events[0], RetrievalEvent) and isinstance(events[-1], DoneEvent)
    assert events[-1].result.answer == answer.answer
    assert len(retrieval.passages) <= 2 and retrieval.passages[0].rank == 1


def test_retrieve_applies_filters(client):
    retrieval = client.retrieve(QUESTION, collection=COLLECTION, filters={"doc_id": "release_notes.txt"}, top_k=3)
    assert retrieval.passages and all(isinstance(p, RankedPassage) for p in retrieval.passages)
    assert {p.doc_id for p in retrieval.passages} == {"release_notes.txt"}
    assert [p.rank for p in retrieval.passages] == list(range(1, len(retrieval.passages) + 1))


def test_verify_tells_a_changed_number_from_the_source(client):
    passages = [{"text": RUNBOOK_FACT, "doc_id": "oncall_runbook.md", "page": 2}, "An unrelated passage."]
    wrong = client.verify("Unit 3 trips on overspeed at 312.5 rpm [S1].", passages, question=QUESTION)
    right = client.verify("Unit 3 trips on overspeed at 287.5 rpm [S1].", passages, question=QUESTION)
    assert wrong.verdict.label == "unsupported" and wrong.verdict.answer_claims[0].status == "contradicted"
    assert wrong.verdict.answer_claims[0].evidence.doc_id == "oncall_runbook.md"
    assert right.verdict.label == "supported" and right.request_id != wrong.request_id


def test_collections_list_and_detail(client):
    [listed] = [c for c in client.collections() if c.name == COLLECTION]
    assert listed.documents == len(SMALL_SAMPLES) and listed.points > listed.documents
    detail = client.collection(COLLECTION, limit=2)
    assert [d.doc_id for d in detail.document_list] == sorted(SMALL_SAMPLES)[:2] and detail.limit == 2


def test_upload_job_and_delete(client):
    text = b"Spillway gate 4 was repainted in March 2024 by the Aldermoor crew. The work order was WO-7781.\n"
    accepted = client.upload(COLLECTION, [("repaint.txt", text)])
    assert [f.doc_id for f in accepted.files] == ["repaint.txt"] and accepted.status_url.endswith(accepted.job_id)
    job = client.wait_for_job(accepted.job_id, timeout=300, poll_interval=0.2)
    assert job.state == "succeeded" and job.files[0].status == "ingested" and job.files[0].chunks_written > 0
    found = client.retrieve("Which work order repainted spillway gate 4?", collection=COLLECTION, top_k=1)
    assert found.passages[0].doc_id == "repaint.txt"
    deleted = client.delete_document(COLLECTION, "repaint.txt")
    assert deleted.chunks_deleted == job.files[0].chunks_written
    with pytest.raises(NotFoundError) as raised:
        client.delete_document(COLLECTION, "repaint.txt")
    assert raised.value.type == "document_not_found" and raised.value.param == "doc_id"


def test_errors_carry_the_api_error_body(served):
    with Client(served.url, api_key="vrk_000000000000_not-a-key") as stranger:
        with pytest.raises(AuthenticationError) as unauthorised:
            stranger.collections()
    assert unauthorised.value.status_code == 401 and unauthorised.value.request_id
    with Client(served.url, api_key=served.other_key) as elsewhere:
        with pytest.raises(PermissionDeniedError) as denied:
            elsewhere.retrieve(QUESTION, collection=COLLECTION)
    assert denied.value.status_code == 403 and COLLECTION in denied.value.message
    with Client(served.url, api_key=served.key) as client:
        with pytest.raises(UnprocessableEntityError) as invalid:
            client.retrieve(QUESTION, collection=COLLECTION, top_k=0)
        assert invalid.value.param == "top_k" and invalid.value.details
        with pytest.raises(NotFoundError) as missing:
            client.job("0" * 32)
    assert missing.value.type == "job_not_found"


def test_an_unreachable_server_is_a_connection_error():
    with Client(f"http://127.0.0.1:{free_port()}/v1") as client:
        with pytest.raises(APIConnectionError):
            client.collections()


def test_the_client_declares_every_field_the_server_always_answers_with():
    from api.client import types
    from api.schemas import common, documents, query, verify

    pairs = [
        (query.QueryResponse, types.Answer), (query.RetrieveResponse, types.Retrieval),
        (verify.VerifyResponse, types.Verification), (common.VerdictModel, types.Verdict),
        (common.ClaimCheckModel, types.ClaimCheck), (common.EvidenceModel, types.Evidence),
        (common.PassageModel, types.Passage), (common.RankedPassageModel, types.RankedPassage),
        (common.CitationModel, types.Citation), (common.UsageModel, types.Usage),
        (documents.CollectionModel, types.CollectionSummary), (documents.CollectionDetail, types.Collection),
        (documents.DocumentModel, types.DocumentSummary), (documents.JobModel, types.Job),
        (documents.JobFile, types.JobFile), (documents.UploadAccepted, types.UploadAccepted),
        (documents.DocumentDeleted, types.DocumentDeleted),
    ]  # fmt: skip
    for server, client in pairs:  # fields the server may leave out still reach callers (model_extra)
        required = {name for name, field in server.model_fields.items() if field.is_required()}
        missing = required - set(client.model_fields)
        assert not missing, f"{client.__name__} lacks {sorted(missing)} of {server.__name__}"


def test_importing_the_client_loads_nothing_of_the_core():
    probe = ("import sys, api.client; "
             "print(sorted(m for m in ('rag', 'fastapi', 'torch', 'llama_index.core') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
