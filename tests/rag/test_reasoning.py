"""The reasoning normaliser and stream splitter: every response shape, as dicts and as real SDK objects.

SDK objects are built with ``model_validate`` so provider extras (``reasoning_content``, ``reasoning``,
``thinking``, DeepSeek's cache counts) arrive exactly as the openai SDK delivers them: as pydantic extras.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from rag.reasoning import (  # noqa: E402
    ANSWER_CLOSE,
    ANSWER_OPEN,
    REASONING_CLOSE,
    REASONING_OPEN,
    STYLES,
    StreamSplitter,
    collect,
    normalise_message,
    usage_from_response,
)
from rag.types import Usage  # noqa: E402

ALL_STYLES = sorted(STYLES)
TAGS = ("<think>", "</think>", REASONING_OPEN, REASONING_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


def sdk_message(finish_reason: str = "stop", **message):
    completion = ChatCompletion.model_validate(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", **message}}],
        }
    )
    return completion.choices[0].message


def sdk_delta(**delta):
    chunk = ChatCompletionChunk.model_validate(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
    )
    return chunk.choices[0].delta


def stream(deltas, style: str):
    splitter = StreamSplitter(style)
    events = [event for delta in deltas for event in splitter.feed(delta)]
    return events + splitter.finish()


# --- native reasoning fields -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "thinking"])
@pytest.mark.parametrize("as_sdk", [False, True], ids=["dict", "sdk"])
@pytest.mark.parametrize("style", ALL_STYLES)
def test_reasoning_field_wins_under_every_style(field, as_sdk, style):
    fields = {field: "\n  Step 1. Look at [S1].\n", "content": "  The answer is 42 [S1].\n"}
    message = sdk_message(**fields) if as_sdk else {"role": "assistant", **fields}
    assert normalise_message(message, style) == ("Step 1. Look at [S1].", "The answer is 42 [S1].")


def test_sdk_delivers_extras_as_pydantic_extras():
    """Guards the premise: the SDK has no declared field for any of these, they live in model_extra."""
    message = sdk_message(content="A", reasoning_content="R")
    assert message.model_extra == {"reasoning_content": "R"}


def test_field_content_is_kept_verbatim_even_with_tags():
    message = {"reasoning_content": "R", "content": "Use <think> tags </answer> like this"}
    assert normalise_message(message, "think_tags") == ("R", "Use <think> tags </answer> like this")


def test_vllm_sending_both_fields_is_read_once():
    message = sdk_message(content="A", reasoning="R", reasoning_content="R")
    assert normalise_message(message, "native") == ("R", "A")


def test_ollama_native_message():
    assert normalise_message({"role": "assistant", "thinking": "hmm", "content": "yes"}, "native") == ("hmm", "yes")


@pytest.mark.parametrize("empty", [None, "", 7, {"text": "x"}, [3, None]])
def test_empty_or_malformed_field_falls_back_to_content(empty):
    message = {"reasoning_content": empty, "content": "<think>R</think>A"}
    assert normalise_message(message, "native") == ("R", "A")


def test_whitespace_only_field_counts_as_a_field():
    """A field delta of "\\n" already switched a stream to field mode, so the message must agree."""
    assert normalise_message({"reasoning": "\n", "content": "<think>x</think>y"}, "native") == ("", "<think>x</think>y")


def test_field_with_no_content():
    assert normalise_message(sdk_message(content=None, reasoning_content="R"), "native") == ("R", "")


# --- think tags in the content --------------------------------------------------------------------------


@pytest.mark.parametrize("style", ALL_STYLES)
@pytest.mark.parametrize("as_sdk", [False, True], ids=["dict", "sdk"])
def test_think_tags_under_every_style(style, as_sdk):
    content = "<think>\nThe user asks X. [S2] says Y.\n</think>\n\nY [S2]."
    message = sdk_message(content=content) if as_sdk else {"content": content}
    assert normalise_message(message, style) == ("The user asks X. [S2] says Y.", "Y [S2].")


@pytest.mark.parametrize("style", ["think_tags", "prompted"])
def test_r1_missing_opening_tag(style):
    message = sdk_message(content="Okay, the sources say Y.\n</think>\n\nY [S1].")
    assert normalise_message(message, style) == ("Okay, the sources say Y.", "Y [S1].")


@pytest.mark.parametrize("style", ["native", "none"])
def test_missing_opening_tag_is_plain_answer_where_content_is_expected_to_be_the_answer(style):
    assert normalise_message({"content": "R</think>A"}, style) == ("", "R</think>A")


@pytest.mark.parametrize("style", ALL_STYLES)
@pytest.mark.parametrize("finish_reason", ["length", "stop"])
def test_unclosed_think_is_all_reasoning(style, finish_reason):
    message = sdk_message(finish_reason=finish_reason, content="<think>\nLet me think about [S1] and")
    assert normalise_message(message, style) == ("Let me think about [S1] and", "")


def test_reasoning_may_mention_tags_and_answer_may_quote_them():
    content = "<think>should I use <answer> or <think>?</think>Write <think> before reasoning."
    assert normalise_message({"content": content}, "think_tags") == (
        "should I use <answer> or <think>?",
        "Write <think> before reasoning.",
    )


@pytest.mark.parametrize("style", ["think_tags", "prompted"])
def test_text_before_an_opening_tag_is_answer_when_the_model_reasons_in_content(style):
    assert normalise_message({"content": "Sure. <think>R</think> A"}, style) == ("R", "Sure.  A")


@pytest.mark.parametrize("style", ["native", "none"])
def test_a_tag_after_answer_text_is_literal_where_content_is_the_answer(style):
    content = "Models such as R1 write <think>…</think> before answering."
    assert normalise_message({"content": content}, style) == ("", content)


# --- prompted delimiters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ALL_STYLES)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f"{REASONING_OPEN}R{REASONING_CLOSE}\n{ANSWER_OPEN}A{ANSWER_CLOSE}", ("R", "A")),
        (f"{REASONING_OPEN}R{REASONING_CLOSE}\nA", ("R", "A")),  # answer tags are optional
        (f"{REASONING_OPEN}R\n{ANSWER_OPEN}A{ANSWER_CLOSE}", ("R", "A")),  # reasoning close missing
        (f"{REASONING_OPEN}R\n{ANSWER_OPEN}A", ("R", "A")),  # both closes missing
        (f"{REASONING_OPEN}R{REASONING_CLOSE}{ANSWER_OPEN}A{ANSWER_CLOSE}\nHope this helps!", ("R", "A")),
        (f"{ANSWER_OPEN}A{ANSWER_CLOSE}", ("", "A")),
        (f"{REASONING_OPEN}R and then nothing", ("R and then nothing", "")),  # unclosed: no answer
        (f"{REASONING_OPEN}{REASONING_CLOSE}{ANSWER_OPEN}A{ANSWER_CLOSE}", ("", "A")),
    ],
)
def test_prompted_delimiters(style, content, expected):
    assert normalise_message({"content": content}, style) == expected


@pytest.mark.parametrize("style", ["think_tags", "prompted"])
def test_prompted_without_reasoning_tags_keeps_what_precedes_the_answer_as_reasoning(style):
    content = f"First, [S1] covers it.\n{ANSWER_OPEN}It does [S1].{ANSWER_CLOSE}"
    assert normalise_message({"content": content}, style) == ("First, [S1] covers it.", "It does [S1].")


def test_prompted_answer_close_only():
    assert normalise_message({"content": f"A{ANSWER_CLOSE} trailing"}, "prompted") == ("", "A")


# --- nothing parseable, empty, malformed ---------------------------------------------------------------


@pytest.mark.parametrize("style", ALL_STYLES)
@pytest.mark.parametrize(
    "message",
    [None, {}, {"content": None}, {"content": ""}, {"content": "   \n"}, object(), 42, {"content": 5}],
    ids=["none", "empty-dict", "content-none", "content-empty", "whitespace", "object", "int", "content-int"],
)
def test_empty_and_malformed_messages_are_no_trace(style, message):
    assert normalise_message(message, style) == ("", "")


@pytest.mark.parametrize("style", ALL_STYLES)
def test_plain_content_is_the_answer(style):
    assert normalise_message(sdk_message(content="  Paris [S1].  "), style) == ("", "Paris [S1].")


def test_content_parts_and_bare_strings():
    parts = [{"type": "text", "text": "<think>R</think>"}, {"type": "text", "text": "A"}, {"type": "image"}]
    assert normalise_message({"content": parts}, "think_tags") == ("R", "A")
    assert normalise_message("<think>R</think>A", "none") == ("R", "A")


def test_unknown_style_is_a_configuration_error():
    with pytest.raises(ValueError, match="reasoning style"):
        normalise_message({"content": "A"}, "deepseek")
    with pytest.raises(ValueError):
        StreamSplitter("Native")


# --- streaming --------------------------------------------------------------------------------------------


def test_deepseek_stream_of_sdk_chunks():
    deltas = [
        sdk_delta(role="assistant", content=None, reasoning_content=""),
        sdk_delta(content=None, reasoning_content="First"),
        sdk_delta(content=None, reasoning_content=" thought."),
        sdk_delta(content="", reasoning_content=None),
        sdk_delta(content="The "),
        sdk_delta(content="answer."),
        sdk_delta(),
    ]
    events = stream(deltas, "native")
    assert events == [("reasoning", "First"), ("reasoning", " thought."), ("answer", "The "), ("answer", "answer.")]


def test_vllm_stream_with_reasoning_field():
    deltas = [sdk_delta(reasoning="R1 "), sdk_delta(reasoning="R2"), sdk_delta(content="A")]
    assert collect(stream(deltas, "native")) == ("R1 R2", "A")


def test_split_tags_are_held_never_emitted():
    splitter = StreamSplitter("think_tags")
    assert splitter.feed({"content": "<thi"}) == []
    assert splitter.feed({"content": "nk>\nLet"}) == [("reasoning", "Let")]
    assert splitter.feed({"content": " me see.</th"}) == [("reasoning", " me see.")]
    assert splitter.feed({"content": "ink>\n\nFo"}) == [("answer", "Fo")]
    assert splitter.feed({"content": "o <"}) == [("answer", "o ")]
    assert splitter.feed({"content": "b>"}) == [("answer", "<b>")]  # not a tag after all
    assert splitter.finish() == []


def test_partial_tag_at_the_end_is_flushed_as_text():
    splitter = StreamSplitter("none")
    assert splitter.feed({"content": "<think>R</think>A </ans"}) == [("reasoning", "R"), ("answer", "A ")]
    assert splitter.finish() == [("answer", "</ans")]


def test_prompted_stream_split_everywhere():
    content = f"{REASONING_OPEN}\nCheck [S1].\n{REASONING_CLOSE}\n{ANSWER_OPEN}Yes [S1].{ANSWER_CLOSE}\nBye"
    deltas = [sdk_delta(content=char) for char in content]
    events = stream(deltas, "prompted")
    assert collect(events) == ("Check [S1].", "Yes [S1].")
    assert all(tag not in text for _, text in events for tag in TAGS)


def test_missing_opening_tag_stream_holds_the_lead_then_emits_it_as_reasoning():
    splitter = StreamSplitter("think_tags")
    assert splitter.feed({"content": "Thinking hard"}) == []
    assert splitter.feed({"content": " still.</think>\nDone"}) == [
        ("reasoning", "Thinking hard still."),
        ("answer", "Done"),
    ]


def test_plain_answer_streams_at_once_under_none():
    splitter = StreamSplitter("none")
    assert splitter.feed({"content": "Paris"}) == [("answer", "Paris")]
    assert splitter.feed({"content": " is <think>"}) == [("answer", " is <think>")]


def test_undecided_lead_is_answer_at_finish():
    splitter = StreamSplitter("prompted")
    assert splitter.feed({"content": "Just the answer."}) == []
    assert splitter.finish() == [("answer", "Just the answer.")]


def test_field_after_held_content_releases_it_as_answer():
    splitter = StreamSplitter("think_tags")
    assert splitter.feed({"content": "pre"}) == []
    assert splitter.feed({"reasoning_content": "R", "content": " post"}) == [
        ("answer", "pre"),
        ("reasoning", "R"),
        ("answer", " post"),
    ]


def test_ollama_native_stream_of_dicts():
    deltas = [{"role": "assistant", "thinking": "a", "content": ""}, {"thinking": "b"}, {"content": "c"}]
    assert stream(deltas, "native") == [("reasoning", "a"), ("reasoning", "b"), ("answer", "c")]


def test_malformed_deltas_are_ignored():
    assert stream([None, {}, object(), {"content": 3}, {"reasoning": {"x": 1}}], "think_tags") == []


# --- property: chunking never changes the result -------------------------------------------------------

_NO_TAGS = st.text(alphabet="<>/thinkreasoningw \n.[]S1é", max_size=25) | st.text(max_size=25)
SAFE = _NO_TAGS.filter(lambda s: not any(tag in s for tag in TAGS))
SOUP = st.lists(st.sampled_from([*TAGS, "<", "</", "<thi", "nk>", "ink>", "ans", "wer>", " ", "\n", "x", "Yé"]),
                max_size=25).map("".join)


def _shapes(r: str, a: str) -> list[tuple[str, tuple[str, ...], tuple[str, str]]]:
    """(content, styles it parses under, expected (reasoning, answer))."""
    everywhere = tuple(ALL_STYLES)
    content_first = ("think_tags", "prompted")
    return [
        (f"<think>{r}</think>{a}", everywhere, (r.strip(), a.strip())),
        (f"<think>{r}", everywhere, (r.strip(), "")),
        (f"{REASONING_OPEN}{r}{REASONING_CLOSE}\n{ANSWER_OPEN}{a}{ANSWER_CLOSE}", everywhere, (r.strip(), a.strip())),
        (f"{REASONING_OPEN}{r}{ANSWER_OPEN}{a}", everywhere, (r.strip(), a.strip())),
        (f"{REASONING_OPEN}{r}{REASONING_CLOSE}{a}", everywhere, (r.strip(), a.strip())),
        (f"{r}</think>{a}", content_first, (r.strip(), a.strip())),
        (f"{r}{ANSWER_OPEN}{a}{ANSWER_CLOSE}", content_first, (r.strip(), a.strip())),
        (a, everywhere, ("", a.strip())),
    ]


def _chunks(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(cut % (len(text) + 1) for cut in cuts)})
    return [text[i:j] for i, j in zip(points, points[1:], strict=False)]


_PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(r=SAFE, a=SAFE, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
       style=st.sampled_from(ALL_STYLES), as_sdk=st.booleans())
def test_property_every_shape_round_trips_however_it_is_chunked(r, a, cuts, style, as_sdk):
    for content, styles, expected in _shapes(r, a):
        if style not in styles:
            continue
        whole = normalise_message({"content": content}, style)
        make = (lambda text: sdk_delta(content=text)) if as_sdk else (lambda text: {"content": text})
        streamed = stream([make(chunk) for chunk in _chunks(content, cuts)], style)
        assert whole == expected, content
        assert collect(streamed) == whole, content


@_PROPERTY
@given(content=SOUP, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
       style=st.sampled_from(ALL_STYLES))
def test_property_any_content_splits_like_the_whole(content, cuts, style):
    """Tag soup, stray and nested tags included: the splitter and the normaliser always agree."""
    streamed = stream([{"content": chunk} for chunk in _chunks(content, cuts)], style)
    assert collect(streamed) == normalise_message({"content": content}, style)
    assert all(text for _, text in streamed)


@_PROPERTY
@given(r=SAFE.filter(str.strip), content=SOUP, rcuts=st.lists(st.integers(0, 200), max_size=6),
       ccuts=st.lists(st.integers(0, 200), max_size=6),
       field=st.sampled_from(["reasoning_content", "reasoning", "thinking"]), style=st.sampled_from(ALL_STYLES))
def test_property_field_streams_match_the_message(r, content, rcuts, ccuts, field, style):
    deltas = [{field: chunk} for chunk in _chunks(r, rcuts)] + [{"content": c} for c in _chunks(content, ccuts)]
    expected = normalise_message({field: r, "content": content}, style)
    assert expected == (r.strip(), content.strip())
    assert collect(stream(deltas, style)) == expected


# --- usage ----------------------------------------------------------------------------------------------


def _sdk_usage(usage: dict):
    return ChatCompletion.model_validate(
        {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [], "usage": usage}
    ).usage


DEEPSEEK_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 40,
    "total_tokens": 140,
    "prompt_cache_hit_tokens": 64,
    "prompt_cache_miss_tokens": 36,
    "completion_tokens_details": {"reasoning_tokens": 30},
}
VLLM_USAGE = {
    "prompt_tokens": 50,
    "completion_tokens": 10,
    "total_tokens": 60,
    "prompt_tokens_details": {"cached_tokens": 32},
    "completion_tokens_details": None,
}


@pytest.mark.parametrize("build", [dict, _sdk_usage], ids=["dict", "sdk"])
def test_usage_deepseek(build):
    assert usage_from_response(build(DEEPSEEK_USAGE)) == Usage(100, 40, 30, 64, 36)


@pytest.mark.parametrize("build", [dict, _sdk_usage], ids=["dict", "sdk"])
def test_usage_cached_tokens_count_as_hits_when_deepseek_is_silent(build):
    assert usage_from_response(build(VLLM_USAGE)) == Usage(50, 10, 0, 32, None)


def test_usage_deepseek_hits_win_over_cached_tokens():
    usage = {**DEEPSEEK_USAGE, "prompt_tokens_details": {"cached_tokens": 1}}
    assert usage_from_response(usage).cache_hit_tokens == 64


@pytest.mark.parametrize(
    "usage",
    [None, {}, object(), {"prompt_tokens": None, "completion_tokens": "many", "completion_tokens_details": 3}],
)
def test_usage_missing_or_malformed_is_zero_and_unknown(usage):
    assert usage_from_response(usage) == Usage()


def test_usage_plain_openai_shape():
    usage = _sdk_usage({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
    assert usage_from_response(usage) == Usage(prompt_tokens=7, completion_tokens=3)


def test_usage_rejects_nonsense_counts():
    usage = {"prompt_tokens": 5.0, "completion_tokens": -1, "prompt_cache_hit_tokens": True,
             "completion_tokens_details": {"reasoning_tokens": 2.5}}
    assert usage_from_response(usage) == Usage(prompt_tokens=5)
