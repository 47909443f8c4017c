"""The prompt builder: cache-friendly layout, stable sources, budgets that never overflow a profile's
window, history without reasoning, and the prefix-reuse measure."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings as hsettings, strategies as st

from rag.profiles import resolve_profile
from rag.prompts import (
    ABSTAIN_PHRASE,
    NO_SOURCES,
    SOURCES_HEADING,
    Prompt,
    PromptTooLongError,
    build_prompt,
    input_budget,
    prefix_reuse,
    source_block,
    stable_order,
)
from rag.reasoning import ANSWER_CLOSE, ANSWER_OPEN, REASONING_CLOSE, REASONING_OPEN, THINK_OPEN
from rag.settings import Settings
from rag.prompt_tokens import count_messages, token_counter
from rag.types import Passage

WORDS = ("turbine spillway gate siren overspeed bearing alarm escalation rota allowance warranty "
         "firmware debounce lockout tagout isolation certificate minutes hours unit rpm").split()


def profile(name: str):
    return resolve_profile(name, Settings())


def make_passage(i: int, *, doc: str | None = None, words: int = 60, score: float | None = None) -> Passage:
    rng = random.Random(i)
    text = " ".join(rng.choice(WORDS) for _ in range(words)) + f". Fact {i}."
    doc_id = doc or f"doc-{i % 4}"
    start = 1000 * i
    return Passage(
        label="",
        doc_id=doc_id,
        text=text,
        source=f"/data/{doc_id}.pdf",
        title=f"Manual {doc_id}",
        section_path=("Safety", f"Part {i}"),
        pages=(i % 7 + 1,),
        char_start=start,
        char_end=start + len(text),
        chunk_indexes=(i,),
        scores={"fused": 1.0 / (i + 1) if score is None else score},
    )


def passages(n: int, **kwargs) -> list[Passage]:
    return [make_passage(i, **kwargs) for i in range(n)]


# -- layout --------------------------------------------------------------------------------------------


def test_layout_instructions_sources_history_question_last():
    history = [{"role": "user", "content": "What trips Unit 3?"},
               {"role": "assistant", "content": "It trips at 287.5 rpm [S1]."}]
    prompt = build_prompt(profile("deepseek-v4-flash"), passages(5), "And Units 1 and 2?", history)
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert prompt.messages[-1] == {"role": "user", "content": "And Units 1 and 2?"}
    assert prompt.messages[1:3] == history
    system = prompt.messages[0]["content"]
    assert system.index("only") < system.index(SOURCES_HEADING) < system.index("\n[S1] ") < system.index("\n[S5] ")
    for p in prompt.passages:
        assert source_block(p) in system
    assert prompt.dropped == 0 and len(prompt.passages) == 5
    assert prompt.prompt_tokens == count_messages(prompt.messages, token_counter(profile("deepseek-v4-flash")))


def test_source_header_has_title_section_and_page():
    p = dataclasses.replace(make_passage(3), label="S1", pages=(4, 5))
    assert source_block(p).splitlines()[0] == "[S1] Manual doc-3 — Safety / Part 3 — pages 4–5"
    bare = dataclasses.replace(p, title="", section_path=(), pages=())
    assert source_block(bare).splitlines()[0] == "[S1] doc-3.pdf"


def test_abstention_instruction_is_present():
    for name in ("deepseek-v4-flash", "deepseek-v4-pro-nothink", "llama-3.1-8b-instruct", "local"):
        system = build_prompt(profile(name), passages(2), "Anything?").messages[0]["content"]
        assert ABSTAIN_PHRASE in system
        assert "[S1]" in system and "cite" in system.lower()


def test_no_sources_says_so():
    prompt = build_prompt(profile("local"), [], "What is the warranty?")
    assert NO_SOURCES in prompt.messages[0]["content"]
    assert prompt.passages == [] and prompt.dropped == 0


def test_prompted_delimiters_only_for_prompted_style():
    delimiters = (REASONING_OPEN, REASONING_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
    for name in ("local", "llama-3.1-8b-instruct", "llama-server"):
        system = build_prompt(profile(name), passages(2), "Q?").messages[0]["content"]
        assert all(tag in system for tag in delimiters), name
    for name in ("deepseek-v4-flash", "deepseek-v4-flash-nothink", "deepseek-v4-pro"):
        system = build_prompt(profile(name), passages(2), "Q?").messages[0]["content"]
        assert not any(tag in system for tag in delimiters), name
    think = dataclasses.replace(profile("llama-server"), reasoning_style="think_tags")
    assert REASONING_OPEN not in build_prompt(think, passages(2), "Q?").messages[0]["content"]


# -- stable order --------------------------------------------------------------------------------------


def test_source_order_is_stable_whatever_the_scores():
    base = passages(12)
    prof = profile("deepseek-v4-flash")
    first = build_prompt(prof, base, "Q?")
    for seed in range(5):
        shuffled = [dataclasses.replace(p, scores={"fused": random.Random(seed).random()}) for p in base]
        random.Random(seed).shuffle(shuffled)
        again = build_prompt(prof, shuffled, "Q?")
        assert again.messages == first.messages
    keys = [(p.doc_id, p.char_start) for p in first.passages]
    assert keys == sorted(keys)
    assert [p.label for p in first.passages] == [f"S{i}" for i in range(1, 13)]
    assert [p.doc_id for p in first.passages] == [p.doc_id for p in stable_order(base)]


def test_duplicates_are_included_once():
    base = passages(4)
    prompt = build_prompt(profile("local"), base + base[:2], "Q?")
    assert len(prompt.passages) == 4 and prompt.dropped == 0


def test_packing_keeps_the_best_ranked_then_orders_stably():
    prof = dataclasses.replace(profile("deepseek-v4-flash-nothink"), context_window=1800, max_output_tokens=200)
    ranked = passages(30, words=80)  # rank order = index order
    prompt = build_prompt(prof, ranked, "Which unit?")
    n = len(prompt.passages)
    assert 0 < n < 30 and prompt.dropped == 30 - n
    kept = {p.char_start for p in prompt.passages}
    assert kept == {p.char_start for p in ranked[:n]}  # equal sizes: exactly the top n by rank
    keys = [(p.doc_id, p.char_start) for p in prompt.passages]
    assert keys == sorted(keys)
    assert prompt.prompt_tokens <= prof.context_window - prof.max_output_tokens


def test_a_big_passage_is_skipped_for_smaller_lower_ranked_ones():
    prof = dataclasses.replace(profile("deepseek-v4-flash-nothink"), context_window=1500, max_output_tokens=200)
    ranked = [make_passage(0, words=2000)] + passages(5, words=30)[1:]
    prompt = build_prompt(prof, ranked, "Q?")
    assert ranked[0].char_start not in {p.char_start for p in prompt.passages}
    assert len(prompt.passages) == 4 and prompt.dropped == 1


def test_long_window_takes_many_more_passages_than_the_local_one():
    many = passages(400, words=150)
    local = build_prompt(profile("local"), many, "What is the overspeed trip point?")
    deepseek = build_prompt(profile("deepseek-v4-flash"), many, "What is the overspeed trip point?")
    assert len(deepseek.passages) == 400 and deepseek.dropped == 0
    assert 0 < len(local.passages) < 60
    assert len(deepseek.passages) >= 5 * len(local.passages)
    assert local.prompt_tokens <= profile("local").context_window - profile("local").max_output_tokens


def test_question_that_does_not_fit_is_a_clear_error():
    local = profile("local")
    question = "Why? " * 9000
    with pytest.raises(PromptTooLongError, match="question.*'local'.*8192"):
        build_prompt(local, passages(3), question)
    with pytest.raises(ValueError, match="empty"):
        build_prompt(local, passages(3), "   ")


# -- history -------------------------------------------------------------------------------------------


def test_history_excludes_reasoning():
    history = [
        {"role": "system", "content": "an old system prompt"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1 [S1].", "reasoning_content": "SECRET-FIELD"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": f"{THINK_OPEN}SECRET-THINK</think>A2 [S2]."},
        {"role": "user", "content": "Q3"},
        {"role": "assistant", "content": f"{REASONING_OPEN}SECRET-PROMPTED{REASONING_CLOSE}{ANSWER_OPEN}A3.{ANSWER_CLOSE}"},
        {"role": "user", "content": "Q4"},
        {"role": "assistant", "content": "SECRET-R1-NO-OPENER</think>A4."},
    ]
    prompt = build_prompt(profile("deepseek-v4-flash"), passages(3), "Q5", history)
    turns = prompt.messages[1:]
    assert turns == [
        {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1 [S1]."},
        {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2 [S2]."},
        {"role": "user", "content": "Q3"}, {"role": "assistant", "content": "A3."},
        {"role": "user", "content": "Q4"}, {"role": "assistant", "content": "A4."},
        {"role": "user", "content": "Q5"},
    ]
    assert "SECRET" not in repr(prompt.messages)
    assert "old system prompt" not in repr(prompt.messages)


def test_history_rejects_unknown_roles():
    with pytest.raises(ValueError, match=r"history\[0\].*tool"):
        build_prompt(profile("local"), [], "Q", [{"role": "tool", "content": "x"}])


def test_long_history_is_trimmed_oldest_first():
    history = []
    for i in range(60):
        history += [{"role": "user", "content": f"question {i} " + "word " * 60},
                    {"role": "assistant", "content": f"answer {i} " + "word " * 60}]
    prof = profile("local")
    prompt = build_prompt(prof, passages(10), "latest?", history)
    turns = prompt.messages[1:-1]
    assert prompt.history_dropped > 0 and turns
    assert turns[0]["role"] == "user"
    assert turns[-1]["content"].startswith("answer 59")  # the newest turns stay
    assert len(prompt.passages) > 0  # history never takes all the room
    assert prompt.prompt_tokens <= prof.context_window - prof.max_output_tokens


# -- budget property -----------------------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "S")) | st.sampled_from("\n\t[]<>|"),
    max_size=1500,
)


@st.composite
def passage_lists(draw):
    n = draw(st.integers(0, 25))
    out = []
    for i in range(n):
        text = draw(TEXT)
        doc = draw(st.sampled_from(["a", "b", "c", "ü-doc"]))
        start = draw(st.integers(0, 10_000))
        out.append(Passage(label="", doc_id=doc, text=text, source=draw(st.sampled_from(["", "/x/y.md"])),
                           title=draw(st.text(max_size=40)), section_path=tuple(draw(st.lists(st.text(max_size=15), max_size=3))),
                           pages=tuple(draw(st.lists(st.integers(1, 500), max_size=3))), char_start=start,
                           char_end=start + len(text), chunk_indexes=(i,), scores={"fused": draw(st.floats(0, 1))}))
    return out


@st.composite
def histories(draw):
    turns = []
    for _ in range(draw(st.integers(0, 4))):
        turns.append({"role": "user", "content": draw(TEXT)})
        turns.append({"role": "assistant", "content": draw(TEXT)})
    return turns


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    base=st.sampled_from(["local", "deepseek-v4-flash", "llama-server", "llama-3.1-8b-instruct"]),
    window=st.integers(200, 12_000),
    output_share=st.floats(0.0, 0.6),
    ranked=passage_lists(),
    question=TEXT,
    history=histories(),
)
def test_prompt_never_exceeds_the_window(base, window, output_share, ranked, question, history):
    assume(question.strip())
    prof = dataclasses.replace(profile(base), context_window=window,
                               max_output_tokens=max(1, int(window * output_share)))
    count = token_counter(prof)
    try:
        prompt = build_prompt(prof, ranked, question, history)
    except PromptTooLongError:
        return
    total = count_messages(prompt.messages, count)
    assert total == prompt.prompt_tokens
    assert total <= input_budget(prof) <= prof.context_window - prof.max_output_tokens
    assert prompt.messages[-1] == {"role": "user", "content": question.strip()}
    assert [p.label for p in prompt.passages] == [f"S{i}" for i in range(1, len(prompt.passages) + 1)]
    for p in prompt.passages:
        assert source_block(p) in prompt.messages[0]["content"]


# -- sessions and prefix reuse -------------------------------------------------------------------------


def test_prefix_reuse_measure():
    count = token_counter(profile("deepseek-v4-flash"))
    a = [{"role": "system", "content": "same " * 200}, {"role": "user", "content": "first"}]
    b = [{"role": "system", "content": "same " * 200}, {"role": "user", "content": "second"}]
    assert prefix_reuse(a, a, count) == 1.0
    assert 0.9 < prefix_reuse(a, b, count) < 1.0
    assert prefix_reuse([{"role": "user", "content": "x"}], [{"role": "system", "content": "y " * 50}], count) < 0.05
    assert prefix_reuse(a, [], count) <= 1.0


def test_repeated_question_reuses_the_whole_prompt():
    prof = profile("deepseek-v4-flash")
    ranked = passages(10)
    first = build_prompt(prof, ranked, "Q?")
    again = build_prompt(prof, list(reversed(ranked)), "Q?")  # other scores, same set
    assert prefix_reuse(first.messages, again.messages, token_counter(prof)) == 1.0


def test_follow_up_with_previous_keeps_labels_and_the_sources_prefix():
    prof = profile("deepseek-v4-flash")
    turn1 = build_prompt(prof, passages(8), "Q1?")
    retrieved = passages(10)[2:10] + [make_passage(40, doc="doc-0")]  # 0 and 1 gone, 8, 9 and 40 new
    answer = [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "A1 [S1]."}]
    sticky = build_prompt(prof, retrieved, "Q2?", answer, previous=turn1)
    plain = build_prompt(prof, retrieved, "Q2?", answer)
    # The previous sources keep their order and labels (carried along although not retrieved again).
    assert sticky.passages[:8] == turn1.passages
    assert sticky.carried == 2 and sticky.dropped == 0 and len(sticky.passages) == 11
    new = sticky.passages[8:]
    assert [(p.doc_id, p.char_start) for p in new] == sorted((p.doc_id, p.char_start) for p in new)
    count = token_counter(prof)
    assert prefix_reuse(turn1.messages, sticky.messages, count) > prefix_reuse(turn1.messages, plain.messages, count)
    assert prefix_reuse(turn1.messages, sticky.messages, count) > 0.6
    # Without carrying, the passages not retrieved again leave and the rest keep their relative order.
    lean = build_prompt(prof, retrieved, "Q2?", answer, previous=turn1, carry_previous=False)
    assert lean.carried == 0 and len(lean.passages) == 9
    assert [p.char_start for p in lean.passages[:6]] == [p.char_start for p in turn1.passages if p.char_start >= 2000]


def test_prompt_passage_lookup():
    prompt = build_prompt(profile("local"), passages(3), "Q?")
    assert isinstance(prompt, Prompt)
    assert prompt.passage("[S2]") is prompt.passages[1]
    assert prompt.passage("S9") is None


# -- small profiles: a prompt budget and a worked example -------------------------------------------------


def test_a_small_profile_stays_within_its_prompt_budget():
    local = profile("local")
    assert local.max_prompt_tokens is not None
    assert input_budget(local) == local.max_prompt_tokens < local.context_window - local.max_output_tokens
    many = passages(40, words=120)
    prompt = build_prompt(local, many, "What is the overspeed trip point?")
    assert prompt.budget == local.max_prompt_tokens
    assert 0 < len(prompt.passages) < 40 and prompt.dropped == 40 - len(prompt.passages)
    assert count_messages(prompt.messages, token_counter(local)) == prompt.prompt_tokens <= local.max_prompt_tokens
    # Without the cap the same window takes many more passages: the budget, not the window, decides.
    uncapped = build_prompt(dataclasses.replace(local, max_prompt_tokens=None), many, "What is the overspeed trip point?")
    assert len(uncapped.passages) >= 3 * len(prompt.passages)
    # The best-ranked passages are the ones kept.
    assert {p.char_start for p in prompt.passages} == {p.char_start for p in many[:len(prompt.passages)]}


def test_a_prompt_budget_below_the_instructions_names_the_field():
    tiny = dataclasses.replace(profile("local"), max_prompt_tokens=50)
    with pytest.raises(PromptTooLongError, match="max_prompt_tokens"):
        build_prompt(tiny, passages(2), "Q?")


def test_small_profiles_get_a_worked_example_of_a_cited_answer():
    local = profile("local")
    assert local.worked_example
    system = build_prompt(local, passages(2), "Q?").messages[0]["content"]
    example = system[system.index("Example"):system.index(SOURCES_HEADING)]
    assert "[S1]" in example and f"{ANSWER_OPEN}" in example and f"{REASONING_OPEN}" in example
    assert example.count("[S1]") >= 3  # a source, the reasoning and the answer's citation
    big = build_prompt(profile("deepseek-v4-flash"), passages(2), "Q?").messages[0]["content"]
    assert "Example" not in big
    # The same bytes for every question: the example is part of the cacheable prefix.
    other = build_prompt(local, passages(2), "Another question?").messages[0]["content"]
    assert other == system
