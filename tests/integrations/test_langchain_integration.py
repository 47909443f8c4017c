"""integrations.langchain against the real langchain-core: the retriever's documents, the runnable that answers
with its verdict, and the verifier at the end of a chain built from stock LangChain parts."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from integrations.langchain import VeriragAnswer, VeriragRetriever, VeriragVerifier
from tests.api.helpers import COLLECTION, QUESTION
from tests.support.deepseek_server import Reply

RIGHT, WRONG = "Unit 3 trips on overspeed at 287.5 rpm.", "Unit 3 trips on overspeed at 312.5 rpm."


def test_the_retriever_returns_documents_with_verirags_metadata(local):
    documents = VeriragRetriever(collection=COLLECTION, top_k=4, backend=local).invoke(QUESTION)
    assert 0 < len(documents) <= 4 and all(isinstance(d, Document) for d in documents)
    assert any("287.5" in d.page_content for d in documents)
    scores = [d.metadata["score"] for d in documents]
    assert scores == sorted(scores, reverse=True)
    for document in documents:
        assert {"doc_id", "source", "title", "section_path", "page", "pages", "char_start", "char_end",
                "chunk_indexes"} <= set(document.metadata)
        assert document.id.startswith(document.metadata["doc_id"] + "#")
    filtered = VeriragRetriever(collection=COLLECTION, filters={"doc_id": "release_notes.txt"},
                                backend=local).invoke(QUESTION)
    assert filtered and {d.metadata["doc_id"] for d in filtered} == {"release_notes.txt"}


def test_a_remote_retriever_by_url_returns_the_same_documents(local, served):
    here = VeriragRetriever(collection=COLLECTION, top_k=3, backend=local).invoke(QUESTION)
    there = VeriragRetriever(collection=COLLECTION, top_k=3, url=served.url, api_key=served.key).invoke(QUESTION)
    assert [(d.id, d.page_content) for d in here] == [(d.id, d.page_content) for d in there]


@pytest.mark.slow
def test_the_answer_runnable_returns_the_answer_with_its_verdict(local, model):
    out = VeriragAnswer(collection=COLLECTION, top_k=4, backend=local).invoke(QUESTION)
    assert "287.5" in out["answer"] and out["verdict"]["label"] == "supported"
    assert [c["status"] for c in out["verdict"]["claims"] if c["origin"] == "answer"] == ["supported"]
    [citation] = out["citations"]
    labels = [d.metadata["label"] for d in out["documents"]]
    assert out["documents"][labels.index(citation["label"])].metadata["doc_id"] == citation["doc_id"]
    # Filters per call; the release notes do not give the trip speed, so the same answer is not supported.
    model.script(Reply(content="Unit 3 trips on overspeed at 287.5 rpm [S1]."))
    filtered = VeriragAnswer(backend=local).invoke({"question": QUESTION, "filters": {"doc_id": "release_notes.txt"}})
    assert {d.metadata["doc_id"] for d in filtered["documents"]} == {"release_notes.txt"}
    assert filtered["verdict"]["label"] != "supported"


def test_the_verifier_checks_a_stock_chains_answer_against_its_documents(local):
    retriever = VeriragRetriever(collection=COLLECTION, top_k=4, backend=local)
    prompt = ChatPromptTemplate.from_messages([("human", "Sources: {documents}\n\nQuestion: {question}")])
    verdicts = {}
    for reply in (RIGHT, WRONG):
        llm = FakeListChatModel(responses=[reply])
        chain = ({"documents": retriever, "question": RunnablePassthrough()}
                 | RunnablePassthrough.assign(answer=prompt | llm)
                 | VeriragVerifier(backend=local))
        out = chain.invoke(QUESTION)
        assert out["answer"].content == reply and out["documents"]
        verdicts[reply] = out["verdict"]
    assert verdicts[RIGHT]["label"] == "supported" and verdicts[WRONG]["label"] == "unsupported"
    [claim] = [c for c in verdicts[WRONG]["claims"] if c["origin"] == "answer"]
    assert claim["status"] == "contradicted" and claim["evidence"]["doc_id"]


def test_the_verifier_says_what_it_needs(local):
    verifier = VeriragVerifier(backend=local)
    with pytest.raises(ValueError, match="documents"):
        verifier.invoke({"answer": RIGHT})
    with pytest.raises(ValueError, match="answer"):
        verifier.invoke({"context": ["Unit 3 trips at 287.5 rpm."]})
