"""The citation grammar's text and the prompt labels it is built from (the grammar's effect on the real
model: tests/rag/backends/test_backend_local.py)."""

from __future__ import annotations

from rag.backends.citation_grammar import (
    MAX_REASONING_CHARS, MAX_SENTENCE_CHARS, MAX_SENTENCES, cited_reply_grammar, llama_kwargs,
)
from rag.profiles import resolve_profile
from rag.prompts import ABSTAIN_PHRASE, build_prompt, source_labels
from rag.settings import Settings
from rag.types import Passage


def passage(doc: str, text: str) -> Passage:
    return Passage(label="", doc_id=doc, text=text, source=f"{doc}.md", title=doc, section_path=(), pages=(),
                   char_start=0, char_end=len(text), chunk_indexes=(0,))


def test_labels_come_from_the_sources_not_from_the_worked_example():
    profile = resolve_profile("local", Settings())
    assert profile.worked_example and profile.cite_grammar  # the example has labels of its own
    prompt = build_prompt(profile, [passage("b", "Unit 3 trips at 287.5 rpm."), passage("a", "Pay is 90 EUR.")],
                          "At what speed does Unit 3 trip?")
    assert source_labels(prompt.messages) == [p.label for p in prompt.passages] == ["S1", "S2"]
    assert source_labels(build_prompt(profile, [], "Anything?").messages) == []


def test_the_grammar_allows_only_the_given_labels_and_the_abstention():
    grammar = cited_reply_grammar(["S1", "S3"], prompted=True)
    assert 'cite ::= "[S1]" | "[S3]"\n' in grammar and "[S2]" not in grammar
    assert f'"{ABSTAIN_PHRASE}" | sentence' in grammar
    # a bounded reply: a loop ends at a sentence boundary
    assert f"char{{1,{MAX_SENTENCE_CHARS}}}" in grammar and f"char{{1,{MAX_REASONING_CHARS}}}" in grammar
    assert (f"{{0,{MAX_SENTENCES - 1}}}" in grammar) == (MAX_SENTENCES > 1)
    assert grammar.startswith('root ::= "<reasoning>" reason "</reasoning>\\n<answer>"')
    assert cited_reply_grammar(["S1"], prompted=False).startswith("root ::= answer-body\n")
    assert cited_reply_grammar([], prompted=True) is None


def test_without_a_grammar_or_processors_the_kwargs_pass_through():
    plain = {"messages": [], "max_tokens": 8}
    assert llama_kwargs(plain, llama=None) is plain  # the model is needed only to build a grammar
