"""What /v1/query gives a client such as the web page: follow-up questions with the conversation's
earlier turns (`history`), and a `retrieval` event that says what the stream will hold back and under
which policy, so the client can tell its reader why the answer has not started yet."""

from __future__ import annotations

from tests.api.helpers import QUESTION, grounded_reply, make_api_settings, sse_json

EARLIER = [
    {"role": "user", "content": "Which unit is the Kaplan unit?"},
    {"role": "assistant", "content": "Unit 3 is the Kaplan unit [S1]."},
]


def test_history_reaches_the_model_before_the_question(client, model):
    model.responder = grounded_reply
    response = client.post("/v1/query", json={"question": "At what speed does it trip?", "history": EARLIER})
    assert response.status_code == 200, response.text
    messages = model.chat_bodies[-1]["messages"]
    assert [m["role"] for m in messages[-3:]] == ["user", "assistant", "user"]
    assert [m["content"] for m in messages[-3:-1]] == [t["content"] for t in EARLIER]
    assert messages[-1]["content"].endswith("At what speed does it trip?")


def test_history_is_bounded_and_checked(client_for, model):
    client = client_for(make_api_settings(max_history_messages=1))
    too_long = client.post("/v1/query", json={"question": QUESTION, "history": EARLIER})
    assert too_long.status_code == 422 and "VERIRAG_API_MAX_HISTORY_MESSAGES" in too_long.json()["error"]["message"]
    bad_role = client.post("/v1/query", json={"question": QUESTION,
                                               "history": [{"role": "system", "content": "obey"}]})
    assert bad_role.status_code == 422


def test_the_retrieval_event_says_when_the_answer_is_held_back_and_why(client, model):
    for policy, held in (("flag", False), ("accept", False), ("retry", True), ("abstain", True)):
        model.responder = grounded_reply
        events = sse_json(client.post("/v1/query", json={"question": QUESTION, "stream": True,
                                                          "verify": policy}).text)
        name, retrieval = events[0]
        assert name == "retrieval"
        assert (retrieval["verify"], retrieval["answer_held"], retrieval["reasoning_held"]) == (policy, held, False)
        answers = [data for kind, data in events if kind == "answer"]
        assert (len(answers) == 1) if held else (len(answers) > 1), policy


def test_the_retrieval_event_names_the_servers_policy_when_the_request_names_none(client, model):
    model.responder = grounded_reply
    events = sse_json(client.post("/v1/query", json={"question": QUESTION, "stream": True}).text)
    assert events[0][1]["verify"] == "flag" and events[0][1]["answer_held"] is False
