"""Conversation ids on /v1/query and /v1/chat/completions: the server keeps each turn's sources and lays
out the next prompt after the previous one (rag.conversation), resolves follow-ups for retrieval, keeps
conversations per key and per collection, and forgets them after VERIRAG_API_CONVERSATION_TTL_S."""

from __future__ import annotations

import time

from tests.api.helpers import make_api_settings, sse_json
from tests.support.deepseek_server import Reply, label_holding


def all_text(body: dict) -> str:
    return "\n".join(str(m.get("content") or "") for m in body["messages"])


def cite(phrase: str, answer: str):
    def reply(body: dict) -> Reply:
        label = label_holding(all_text(body), phrase)
        return Reply(reasoning=f"{label} says so.", content=answer.format(label=label))
    return reply


KAPLAN = cite("Kaplan", "Unit 3 is the Kaplan unit [{label}].")
TRIP = cite("287.5", "Unit 3 trips at 287.5 rpm [{label}].")


def test_a_follow_up_extends_the_previous_prompt_and_is_rewritten_for_retrieval(client, model):
    model.responder = KAPLAN
    first = client.post("/v1/query", json={"question": "Which unit is the Kaplan unit?", "conversation": "c-1"})
    assert first.status_code == 200, first.text
    assert first.json()["conversation"]["turn"] == 1 and first.json()["conversation"]["retrieval_query"] is None
    prompt_1 = model.chat_bodies[-1]["messages"]

    model.responder = TRIP
    second = client.post("/v1/query", json={"question": "At what speed does it trip?", "conversation": "c-1"})
    assert second.status_code == 200, second.text
    body = second.json()
    prompt_2 = model.chat_bodies[-1]["messages"]
    # The prefix property: the whole first prompt, then its answer, then one new user message.
    assert prompt_2[: len(prompt_1)] == prompt_1
    assert prompt_2[len(prompt_1)] == {"role": "assistant", "content": first.json()["answer"]}
    assert len(prompt_2) == len(prompt_1) + 2 and prompt_2[-1]["content"].endswith("At what speed does it trip?")
    conversation = body["conversation"]
    assert conversation["turn"] == 2
    assert "Kaplan" in conversation["retrieval_query"]  # "it" resolved from the previous turn
    # Sources already sent are named, not sent again; the answer cites one and is checked against it.
    for label in conversation["sources_given_before"]:
        assert f"[{label}] " not in prompt_2[-1]["content"]
    assert body["citations"] and body["verdict"] is not None
    cited = body["citations"][0]["label"]
    assert cited in {p["label"] for p in body["passages"]}


def test_the_stream_stores_the_turn_too(client, model):
    model.responder = KAPLAN
    events = sse_json(client.post("/v1/query", json={"question": "Which unit is the Kaplan unit?",
                                                     "conversation": "c-stream", "stream": True}).text)
    done = next(data for name, data in events if name == "done")
    assert done["conversation"]["turn"] == 1
    model.responder = TRIP
    again = client.post("/v1/query", json={"question": "At what speed does it trip?", "conversation": "c-stream"})
    assert again.json()["conversation"]["turn"] == 2


def test_history_and_conversation_together_are_refused(client, model):
    response = client.post("/v1/query", json={"question": "And it?", "conversation": "c-both",
                                              "history": [{"role": "user", "content": "Q"}]})
    assert response.status_code == 422 and "conversation" in response.json()["error"]["message"]
    bad_id = client.post("/v1/query", json={"question": "Q?", "conversation": "../x"})
    assert bad_id.status_code == 422


def test_a_conversation_belongs_to_one_collection(client, model):
    model.responder = KAPLAN
    assert client.post("/v1/query", json={"question": "Which unit is the Kaplan unit?",
                                          "conversation": "c-coll"}).status_code == 200
    other = client.post("/v1/query", json={"question": "And it?", "conversation": "c-coll", "collection": "other"})
    assert other.status_code == 409 and "collection 'demo', not 'other'" in other.json()["error"]["message"]


def test_chat_completions_with_a_conversation_id(client, model):
    model.responder = KAPLAN
    messages = [{"role": "user", "content": "Which unit is the Kaplan unit?"}]
    first = client.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash", "messages": messages,
                                                       "conversation": "chat-1"})
    assert first.status_code == 200, first.text
    assert first.json()["verirag"]["conversation"]["turn"] == 1
    prompt_1 = model.chat_bodies[-1]["messages"]
    answer = first.json()["choices"][0]["message"]["content"]
    messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "At what speed does it trip?"}]
    model.responder = TRIP
    second = client.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash", "messages": messages,
                                                        "conversation": "chat-1"})
    assert second.status_code == 200, second.text
    assert second.json()["verirag"]["conversation"]["turn"] == 2
    assert model.chat_bodies[-1]["messages"][: len(prompt_1)] == prompt_1

    # Asking the second question again (same earlier messages) rewinds to turn 1 and answers it anew.
    again = client.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash", "messages": messages,
                                                       "conversation": "chat-1"})
    assert again.json()["verirag"]["conversation"]["turn"] == 2
    # Messages that do not continue it are refused, saying why.
    other = [{"role": "user", "content": "Something else?"}, {"role": "assistant", "content": "x"},
             {"role": "user", "content": "And?"}]
    refused = client.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash", "messages": other,
                                                         "conversation": "chat-1"})
    assert refused.status_code == 409 and "question 1 differs" in refused.json()["error"]["message"]


def test_without_a_conversation_id_nothing_is_stored(client, model):
    model.responder = KAPLAN
    response = client.post("/v1/query", json={"question": "Which unit is the Kaplan unit?"})
    assert response.status_code == 200 and response.json()["conversation"] is None
    assert "Sources:" in model.chat_bodies[-1]["messages"][0]["content"]  # the single-question layout


def test_a_conversation_expires_after_its_lifetime(client_for, model):
    client = client_for(make_api_settings(conversation_ttl_s=0.5))
    model.responder = KAPLAN
    assert client.post("/v1/query", json={"question": "Which unit is the Kaplan unit?",
                                          "conversation": "short"}).json()["conversation"]["turn"] == 1
    time.sleep(0.6)  # past the lifetime: the next question starts afresh
    model.responder = TRIP
    response = client.post("/v1/query", json={"question": "At what speed does Unit 3 trip?", "conversation": "short"})
    assert response.json()["conversation"]["turn"] == 1
