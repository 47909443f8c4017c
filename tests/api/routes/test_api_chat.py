"""The OpenAI-compatible endpoints, driven by the stock `openai` SDK against uvicorn on loopback."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from api.app import create_app
from tests.api.helpers import COLLECTION, MODEL, QUESTION, LiveServer, grounded_reply, make_api_settings, make_settings
from tests.support.deepseek_server import Reply

VERIRAG_MODEL = f"verirag/{MODEL}"


@pytest.fixture(scope="module")
def base_url(data_dir, model_server, embedder):
    app = create_app(make_settings(data_dir, model_server), make_api_settings(), embedder=embedder)
    with LiveServer(app) as url:
        yield url


@pytest.fixture
def sdk(base_url) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key="unused-on-an-open-server", max_retries=0)


def test_models_are_the_profiles(sdk):
    ids = [model.id for model in sdk.models.list()]
    assert VERIRAG_MODEL in ids and all(i.startswith("verirag/") for i in ids)


def test_completion_carries_reasoning_citations_and_verdict(sdk, model):
    model.responder = grounded_reply
    completion = sdk.chat.completions.create(
        model=VERIRAG_MODEL, messages=[{"role": "user", "content": QUESTION}], extra_body={"collection": COLLECTION}
    )

    message = completion.choices[0].message
    assert "287.5 rpm" in message.content
    assert "Kaplan" in message.reasoning_content  # where DeepSeek puts it
    assert completion.model == VERIRAG_MODEL and completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    extras = completion.verirag
    assert extras["collection"] == COLLECTION and extras["request_id"]
    [citation] = extras["citations"]
    assert "287.5" in citation["text"]
    assert "verdict" in extras


def test_earlier_turns_are_history_and_system_messages_are_dropped(sdk, model):
    sdk.chat.completions.create(model=VERIRAG_MODEL, messages=[
        {"role": "system", "content": "CLIENT SYSTEM PROMPT"},
        {"role": "user", "content": "Which units are Francis turbines?"},
        {"role": "assistant", "content": "Units 1 and 2 [S1]."},
        {"role": "user", "content": QUESTION},
    ])  # fmt: skip
    sent = model.last_body["messages"]
    assert sent[-1] == {"role": "user", "content": QUESTION}
    assert {"role": "assistant", "content": "Units 1 and 2 [S1]."} in sent
    assert "CLIENT SYSTEM PROMPT" not in str(sent)


def test_streaming_sends_reasoning_then_content_then_the_verirag_object(sdk, model):
    model.responder = grounded_reply
    stream = sdk.chat.completions.create(model=VERIRAG_MODEL, messages=[{"role": "user", "content": QUESTION}],
                                         stream=True, stream_options={"include_usage": True})
    chunks = list(stream)

    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Kaplan" in reasoning and "287.5 rpm" in content
    first_content = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    last_reasoning = max(i for i, c in enumerate(chunks)
                         if c.choices and getattr(c.choices[0].delta, "reasoning_content", None))
    assert last_reasoning < first_content
    [finish] = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish.choices[0].finish_reason == "stop"
    assert finish.verirag["citations"] and "verdict" in finish.verirag
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_streaming_under_the_retry_policy_sends_the_kept_answer_in_one_delta(sdk, model):
    stream = sdk.chat.completions.create(model=VERIRAG_MODEL, messages=[{"role": "user", "content": QUESTION}],
                                         stream=True, extra_body={"verify": "retry"})
    contents = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(contents) == 1 and contents[0].strip()


def test_stream_wire_format_is_data_lines_ending_with_done(base_url, model):
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", timeout=60, json={
        "model": VERIRAG_MODEL, "messages": [{"role": "user", "content": QUESTION}], "stream": True,
    }) as response:  # fmt: skip
        lines = [line for line in response.iter_lines() if line]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_errors_reach_the_sdk_as_its_exceptions(sdk, model):
    with pytest.raises(openai.BadRequestError, match="unknown model profile"):
        sdk.chat.completions.create(model="verirag/nope", messages=[{"role": "user", "content": QUESTION}])
    with pytest.raises(openai.NotFoundError, match="nowhere"):
        sdk.chat.completions.create(model=VERIRAG_MODEL, messages=[{"role": "user", "content": QUESTION}],
                                    extra_body={"collection": "nowhere"})
    with pytest.raises(openai.BadRequestError, match="last message"):
        sdk.chat.completions.create(model=VERIRAG_MODEL, messages=[{"role": "assistant", "content": "hi"}])
    model.script(Reply(status=429, retry_after=3))
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model=VERIRAG_MODEL, messages=[{"role": "user", "content": QUESTION}])
    assert raised.value.status_code == 503 and raised.value.response.headers["retry-after"] == "3"


def test_a_failure_mid_stream_raises_in_the_sdk(sdk, model):
    model.script(Reply(status=402))
    stream = sdk.chat.completions.create(model=VERIRAG_MODEL, messages=[{"role": "user", "content": QUESTION}],
                                         stream=True)
    with pytest.raises(openai.APIError, match="balance"):
        list(stream)


def test_keys_are_checked_through_the_sdk(fresh_data_dir, model_server, embedder, model):
    settings = make_settings(fresh_data_dir(), model_server)
    app = create_app(settings, make_api_settings(), embedder=embedder)
    _, token = app.state.verirag.keys.create([COLLECTION], "read")
    with LiveServer(app) as url:
        good = OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)
        bad = OpenAI(base_url=f"{url}/v1", api_key="vrk_000000000000_" + "x" * 43, max_retries=0)
        assert good.chat.completions.create(model=VERIRAG_MODEL,
                                            messages=[{"role": "user", "content": QUESTION}]).choices
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
