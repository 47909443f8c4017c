"""The moderation hook: each kind (the default, a Python entry point as a class or a function, an HTTP
callback on a real loopback server), the error policy, the audit lines, and the whole path through
/v1/query and /v1/chat/completions, JSON and streamed."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.moderation import (
    AllowAll,
    Decision,
    HttpModerator,
    ModerationContext,
    ModerationError,
    PythonModerator,
    moderator_for,
)
from tests.api import moderation_hooks as hooks
from tests.api.helpers import COLLECTION, QUESTION, grounded_reply, make_api_settings, sse_json

SCRIPTED = "tests.api.moderation_hooks:ScriptedModerator"
CONTEXT = ModerationContext(key_id="0123456789ab", collection=COLLECTION, route="query", request_id="req-1")


@pytest.fixture(autouse=True)
def _fresh_script():
    hooks.reset()
    yield
    hooks.reset()


def audit_lines(client, request_id: str) -> list[dict]:
    path = client.app.state.verirag.audit.path
    return [line for line in map(json.loads, path.read_text().splitlines()) if line["request_id"] == request_id]


def moderation_lines(client, request_id: str) -> list[dict]:
    return [line for line in audit_lines(client, request_id) if "stage" in line]


# -- a loopback moderation callback ---------------------------------------------------------------------


class CallbackServer:
    """An HTTP moderation callback on 127.0.0.1: ``respond(payload) -> (status, body bytes, delay_s)``."""

    def __init__(self):
        self.received: list[dict] = []
        self.respond = lambda payload: (200, b'{"action": "allow"}', 0.0)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.received.append(payload)
                status, body, delay = owner.respond(payload)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the caller gave up waiting (the timeout tests)
                    pass

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/moderate"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, by_stage: dict[str, object], delay: float = 0.0) -> None:
        """JSON (or raw bytes) per stage; a stage not named is allowed."""

        def respond(payload):
            reply = by_stage.get(payload["stage"], {"action": "allow"})
            body = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            return 200, body, delay

        self.respond = respond

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def callback():
    with CallbackServer() as server:
        yield server


# -- the hook kinds, on their own -------------------------------------------------------------------


def test_the_default_allows_everything_and_is_never_called(client, model):
    assert isinstance(moderator_for(None, 5), AllowAll) and isinstance(moderator_for("", 5), AllowAll)
    assert AllowAll().check_question("anything", CONTEXT) == Decision.allow()
    assert AllowAll().check_answer("q", "anything", CONTEXT) == Decision.allow()

    gate = client.app.state.verirag.moderation
    assert not gate.active  # streams are not held back for it
    response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    assert moderation_lines(client, response.headers["x-request-id"]) == []


def test_a_python_entry_point_may_be_a_class_an_object_or_a_function():
    as_class = moderator_for(SCRIPTED, 5)
    assert isinstance(as_class, PythonModerator)
    hooks.SCRIPT["question"] = Decision.refuse("no", "because")
    assert as_class.check_question("q", CONTEXT) == Decision.refuse("no", "because")
    assert hooks.CALLS[-1]["context"] == CONTEXT

    function = moderator_for("tests.api.moderation_hooks:keyword_filter", 5)
    assert function.check_question("What is the admin password?", CONTEXT).action == "refuse"
    assert function.check_question("When is the siren tested?", CONTEXT) == Decision.allow()
    redacted = function.check_answer("q", "Trip at 287.5 rpm.", CONTEXT)
    assert (redacted.action, redacted.text, redacted.reason) == ("redact", "Trip at ###.# rpm.", "digits")


def test_a_hook_that_cannot_be_loaded_is_refused_at_startup():
    with pytest.raises(ValueError, match="cannot import"):
        moderator_for("tests.api.no_such_module:Hook", 5)
    with pytest.raises(ValueError, match="has no"):
        moderator_for("tests.api.moderation_hooks:NoSuchHook", 5)
    with pytest.raises(ValueError, match="neither"):
        moderator_for("tests.api.moderation_hooks:SCRIPT", 5)


def test_decisions_read_from_json_are_checked():
    assert Decision.from_json({"action": "refuse"}).message  # a default message for the client
    assert Decision.from_json({"action": "redact", "text": "x", "reason": "r"}) == Decision.redact("x", "r")
    for bad in ({"action": "block"}, {"action": "redact"}, {"action": "redact", "text": " "}, ["allow"],
                {"action": "refuse", "message": 3}):
        with pytest.raises(ModerationError):
            Decision.from_json(bad)


def test_the_http_callback_allows_refuses_and_redacts(callback):
    moderator = moderator_for(callback.url, 5)
    assert isinstance(moderator, HttpModerator)
    callback.answer({"question": {"action": "refuse", "message": "not that", "reason": "policy 4"},
                     "answer": {"action": "redact", "text": "[removed]", "reason": "pii"}})

    assert moderator.check_question("q?", CONTEXT) == Decision.refuse("not that", "policy 4")
    assert moderator.check_answer("q?", "a secret", CONTEXT) == Decision.redact("[removed]", "pii")
    assert callback.received[0] == {"stage": "question", "question": "q?", "answer": None,
                                    "key_id": "0123456789ab", "collection": COLLECTION, "route": "query",
                                    "request_id": "req-1"}
    assert callback.received[1]["stage"] == "answer" and callback.received[1]["answer"] == "a secret"
    callback.answer({})
    assert moderator.check_question("q?", CONTEXT) == Decision.allow()
    moderator.close()


def test_the_http_callback_fails_on_bad_json_errors_and_timeouts(callback):
    moderator = HttpModerator(callback.url, timeout_s=0.3)
    callback.answer({"question": b"<html>not json</html>"})
    with pytest.raises(ModerationError, match="not JSON"):
        moderator.check_question("q", CONTEXT)
    callback.respond = lambda payload: (500, b'{"action": "allow"}', 0.0)
    with pytest.raises(ModerationError, match="HTTP 500"):
        moderator.check_question("q", CONTEXT)
    callback.answer({}, delay=2)
    started = time.monotonic()
    with pytest.raises(ModerationError, match="within 0.3s"):
        moderator.check_question("q", CONTEXT)
    assert time.monotonic() - started < 1.5
    with pytest.raises(ModerationError, match="could not be reached"):
        HttpModerator("http://127.0.0.1:9/nothing-listens", timeout_s=1).check_question("q", CONTEXT)
    moderator.close()


# -- through the API: a Python hook ---------------------------------------------------------------


@pytest.fixture
def moderated(client_for):
    return client_for(make_api_settings(moderation=SCRIPTED))


def test_a_refused_question_is_400_audited_and_never_retrieved(moderated, model):
    hooks.SCRIPT["question"] = Decision.refuse("This service does not answer that.", "topic:weapons")
    response = moderated.post("/v1/query", json={"question": QUESTION})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "refused_by_moderation" and error["message"] == "This service does not answer that."
    assert error["param"] == "question"
    assert not model.chat_requests and [call["stage"] for call in hooks.CALLS] == ["question"]
    context = hooks.CALLS[0]["context"]
    assert (context.key_id, context.collection, context.route) == ("anonymous", COLLECTION, "query")
    [line] = audit_lines(moderated, response.headers["x-request-id"])
    assert line["action"] == "query" and line["outcome"] == "refused" and line["stage"] == "question"
    assert line["reason"] == "topic:weapons" and line["question"] == QUESTION and line["hook"] == "python"


def test_an_invalid_request_costs_no_hook_call(moderated, model):
    hooks.SCRIPT["question"] = Decision.refuse("No.", "r")
    response = moderated.post("/v1/query", json={"question": QUESTION, "model": "no-such-profile"})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_model"
    assert hooks.CALLS == []


def test_a_redacted_question_is_what_the_model_is_asked(moderated, model):
    hooks.SCRIPT["question"] = lambda question: Decision.redact(question.replace("Unit 3", "[unit]"), "asset id")
    response = moderated.post("/v1/query", json={"question": QUESTION})

    assert response.status_code == 200, response.text
    asked = model.last_body["messages"][-1]["content"]
    assert "[unit]" in asked and "Unit 3" not in asked
    assert response.json()["question"] == asked
    [line] = moderation_lines(moderated, response.headers["x-request-id"])
    assert (line["outcome"], line["stage"], line["reason"]) == ("redacted", "question", "asset id")
    assert "Unit 3" not in json.dumps(line)  # the text the hook removed is not written down


def test_a_refused_answer_is_400_after_it_was_audited_and_counted(moderated, model):
    model.responder = grounded_reply
    hooks.SCRIPT["answer"] = Decision.refuse("That answer cannot be shown.", "leak")
    response = moderated.post("/v1/query", json={"question": QUESTION})

    assert response.status_code == 400 and response.json()["error"]["message"] == "That answer cannot be shown."
    assert "287.5" in hooks.CALLS[-1]["answer"]
    lines = audit_lines(moderated, response.headers["x-request-id"])
    assert [line.get("outcome") for line in lines] == [None, "refused"]  # answered (sources, model), then refused
    assert lines[1]["stage"] == "answer" and lines[1]["reason"] == "leak"
    assert moderated.app.state.verirag.quotas.used_today("anonymous").requests == 1  # its tokens were spent


def test_a_redacted_answer_leaves_without_its_trace_or_claims(moderated, model):
    model.responder = grounded_reply
    hooks.SCRIPT["answer"] = Decision.redact("The trip speed is withheld [S1].", "numbers")
    body = moderated.post("/v1/query", json={"question": QUESTION}).json()

    assert body["answer"] == "The trip speed is withheld [S1]." and body["reasoning"] == ""
    assert [citation["label"] for citation in body["citations"]] == ["S1"]  # read again from the new text
    assert body["replaced_answer"] is None
    if body["verdict"] is not None:
        assert body["verdict"]["claims"] == [] and "redacted" in body["verdict"]["warnings"][0]
    model_text = {field: value for field, value in body.items() if field not in ("passages", "citations")}
    assert "287.5" not in json.dumps(model_text)  # the sources hold it; nothing the model wrote does


def test_a_stream_holds_reasoning_and_answer_until_the_answer_is_checked(moderated, model):
    model.responder = grounded_reply
    hooks.SCRIPT["answer"] = Decision.redact("Withheld.", "numbers")
    events = sse_json(moderated.post("/v1/query", json={"question": QUESTION, "stream": True}).text)

    kinds = [name for name, _ in events]
    assert kinds == ["retrieval", "answer", "verification", "done"]  # no deltas; no trace for a redaction
    assert events[1][1]["text"] == "Withheld." and events[-1][1]["answer"] == "Withheld."
    assert "287.5" not in json.dumps(events[-1][1]["verdict"]) and not events[-1][1]["reasoning"]


def test_a_stream_sends_the_held_trace_when_the_answer_passes(moderated, model):
    model.responder = grounded_reply
    events = sse_json(moderated.post("/v1/query", json={"question": QUESTION, "stream": True}).text)
    kinds = [name for name, _ in events]
    assert kinds == ["retrieval", "reasoning", "answer", "verification", "done"]
    assert "287.5 rpm" in events[2][1]["text"] and "Kaplan" in events[1][1]["text"]


def test_a_refused_answer_ends_a_stream_with_an_error_event(moderated, model):
    hooks.SCRIPT["answer"] = Decision.refuse("Not shown.", "leak")
    response = moderated.post("/v1/query", json={"question": QUESTION, "stream": True})
    events = sse_json(response.text)

    assert [name for name, _ in events] == ["retrieval", "error"]
    assert events[-1][1]["status"] == 400 and events[-1][1]["error"]["type"] == "refused_by_moderation"
    outcomes = [line.get("outcome") for line in audit_lines(moderated, response.headers["x-request-id"])]
    assert outcomes == ["retrieved", None, "refused"]  # not also "failed" or "cancelled"


def test_a_refused_question_in_a_stream_is_a_plain_http_error(moderated, model):
    hooks.SCRIPT["question"] = Decision.refuse("No.", "r")
    response = moderated.post("/v1/query", json={"question": QUESTION, "stream": True})
    assert response.status_code == 400 and response.headers["content-type"].startswith("application/json")


def test_chat_checks_the_last_message_and_the_answer(moderated, model):
    messages = [{"role": "user", "content": "Earlier turn"}, {"role": "assistant", "content": "Earlier answer"},
                {"role": "user", "content": QUESTION}]
    hooks.SCRIPT["question"] = Decision.refuse("Not in chat.", "r")
    refused = moderated.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash",
                                                           "messages": messages})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "messages"
    assert hooks.CALLS[-1]["question"] == QUESTION and hooks.CALLS[-1]["context"].route == "chat"

    hooks.SCRIPT.clear()
    hooks.SCRIPT["answer"] = Decision.redact("Redacted.", "r")
    whole = moderated.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash", "messages": messages})
    assert whole.json()["choices"][0]["message"]["content"] == "Redacted."

    streamed = moderated.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash",
                                                            "messages": messages, "stream": True})
    lines = [data for _, data in sse_json(streamed.text)]
    contents = [line["choices"][0]["delta"].get("content") for line in lines
                if isinstance(line, dict) and line.get("choices")]
    assert [c for c in contents if c] == ["Redacted."] and lines[-1] == "[DONE]"

    hooks.SCRIPT["answer"] = Decision.refuse("Not shown.", "r")
    refused_stream = moderated.post("/v1/chat/completions", json={"model": "verirag/deepseek-v4-flash",
                                                                  "messages": messages, "stream": True})
    last = [data for _, data in sse_json(refused_stream.text)][-1]
    assert last["status"] == 400 and last["error"]["type"] == "refused_by_moderation"


def test_a_function_hook_through_the_api(client_for, model):
    client = client_for(make_api_settings(moderation="tests.api.moderation_hooks:keyword_filter"))
    model.responder = grounded_reply
    refused = client.post("/v1/query", json={"question": "What is the SCADA password?"})
    assert refused.status_code == 400 and "passwords" in refused.json()["error"]["message"]
    answered = client.post("/v1/query", json={"question": QUESTION}).json()
    assert "287.5" not in answered["answer"] and "###.#" in answered["answer"]


# -- the error policy ----------------------------------------------------------------------------


def test_a_failing_hook_refuses_by_default_and_is_audited(moderated, model):
    hooks.SCRIPT["question"] = RuntimeError("the hook's own bug")
    response = moderated.post("/v1/query", json={"question": QUESTION})

    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    error = response.json()["error"]
    assert error["type"] == "moderation_unavailable" and "VERIRAG_API_MODERATION_ON_ERROR" in error["message"]
    [line] = moderation_lines(moderated, response.headers["x-request-id"])
    assert line["outcome"] == "refused" and line["reason"] == "moderation_error" and "RuntimeError" in line["error"]
    assert not model.chat_requests


def test_a_failing_hook_lets_requests_through_when_told_to(client_for, model):
    client = client_for(make_api_settings(moderation=SCRIPTED, moderation_on_error="allow"))
    hooks.SCRIPT["question"] = RuntimeError("down")
    hooks.SCRIPT["answer"] = lambda answer: {"action": "shrug"}
    response = client.post("/v1/query", json={"question": QUESTION})

    assert response.status_code == 200, response.text
    lines = moderation_lines(client, response.headers["x-request-id"])
    assert [(line["outcome"], line["stage"]) for line in lines] == [("unmoderated", "question"),
                                                                    ("unmoderated", "answer")]


def test_a_hanging_hook_is_given_up_at_its_deadline(client_for, model):
    client = client_for(make_api_settings(moderation=SCRIPTED, moderation_timeout_s=0.3))
    hooks.SCRIPT["question"] = lambda question: time.sleep(3)
    started = time.monotonic()
    response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 503 and "0.3s" in response.json()["error"]["message"]
    assert time.monotonic() - started < 2.5


# -- through the API: the HTTP callback ------------------------------------------------------------


def test_the_http_callback_end_to_end(client_for, model, callback):
    client = client_for(make_api_settings(moderation=callback.url, moderation_timeout_s=0.5))
    model.responder = grounded_reply

    callback.answer({"question": {"action": "refuse", "message": "Refused by the callback.", "reason": "cb-rule-7"}})
    refused = client.post("/v1/query", json={"question": QUESTION})
    assert refused.status_code == 400 and refused.json()["error"]["message"] == "Refused by the callback."
    [line] = moderation_lines(client, refused.headers["x-request-id"])
    assert (line["outcome"], line["reason"], line["hook"]) == ("refused", "cb-rule-7", "http")

    callback.answer({"answer": {"action": "redact", "text": "Callback redaction.", "reason": "cb-pii"}})
    redacted = client.post("/v1/query", json={"question": QUESTION})
    assert redacted.json()["answer"] == "Callback redaction."
    stages = [payload["stage"] for payload in callback.received]
    assert stages == ["question", "question", "answer"] and "287.5" in callback.received[-1]["answer"]

    callback.answer({"question": b"{not json"})
    assert client.post("/v1/query", json={"question": QUESTION}).status_code == 503

    callback.answer({}, delay=3)
    started = time.monotonic()
    timed_out = client.post("/v1/query", json={"question": QUESTION})
    assert timed_out.status_code == 503 and time.monotonic() - started < 2.5
