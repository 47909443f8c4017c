"""A llama.cpp grammar that makes a small model's reply cite and stop.

SmolLM2-135M, told in the prompt to cite every fact by its label and shown a worked example, still wrote no
``[S#]`` in 6 answers of 6 and looped to its token limit in some (bench/first_answer.py). A grammar
(GBNF, applied by llama.cpp's sampler) leaves the words to the model and fixes only the shape of the reply:

* the reasoning (under the ``prompted`` style) is one sentence of at most ``MAX_REASONING_CHARS``; the
  answer is one to ``MAX_SENTENCES`` sentences, and every answer sentence ends with one or more
  citations of labels *that are in the prompt* (an invented ``[S99]`` cannot be sampled), then a full stop;
* or the answer is exactly the abstention sentence, uncited;
* a sentence is at most ``MAX_SENTENCE_CHARS`` characters, and the reply ends when the grammar does, so
  a loop is cut at a sentence boundary instead of at the token limit.

A sentence cannot hold a full stop except between digits ("287.5 rpm"), so that the model cannot run
several uncited sentences together before its first citation. The grammar only shapes: whether the cited
source says what the sentence says is the verifier's question, as for any model.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from rag.prompts import ABSTAIN_PHRASE
from rag.reasoning import ANSWER_CLOSE, ANSWER_OPEN, REASONING_CLOSE, REASONING_OPEN

# Measured on the six demo questions (bench/notes/first_answer.md): two sentences of at most 160
# characters cut the answer before its fact (0 of 6 held it); one sentence of up to 300 kept it as
# often as the free-running model did (2 of 6), at the same number of tokens.
MAX_SENTENCES = 1
MAX_SENTENCE_CHARS = 300
MAX_REASONING_CHARS = 120
MAX_CITES = 3

def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def cited_reply_grammar(labels: Iterable[str], prompted: bool) -> str | None:
    """The GBNF grammar for a reply citing only ``labels``; None when the prompt has no sources (then
    the only honest answer is the abstention, which the prompt already asks for)."""
    labels = list(labels)
    if not labels:
        return None
    body = "answer-body"
    more_sentences = f' (" " sentence){{0,{MAX_SENTENCES - 1}}}' if MAX_SENTENCES > 1 else ""
    root = (f"root ::= {_literal(REASONING_OPEN)} reason {_literal(REASONING_CLOSE + chr(10) + ANSWER_OPEN)} "
            f"{body} {_literal(ANSWER_CLOSE)}" if prompted else f"root ::= {body}")
    return "\n".join([
        root,
        f"reason ::= first char{{1,{MAX_REASONING_CHARS}}} \".\"",
        f"{body} ::= {_literal(ABSTAIN_PHRASE)} | sentence" + more_sentences,
        f"sentence ::= first char{{1,{MAX_SENTENCE_CHARS}}} \" \" cite{{1,{MAX_CITES}}} \".\"",
        'first ::= [^[\\]<>\\n. 0-9] | number',
        # no brackets (only the citations hold them), no tags, no line breaks, no full stop but a decimal point
        'char ::= [^[\\]<>\\n.0-9] | number',
        "number ::= [0-9]{1,12} (\".\" [0-9]{1,6})?",
        "cite ::= " + " | ".join(_literal(f"[{label}]") for label in labels),
    ]) + "\n"


def llama_kwargs(kwargs: dict, llama: Any, processors: Sequence[Any] = ()) -> dict:
    """``kwargs`` for ``llama.create_chat_completion``: a grammar travels as its text (it crosses to the
    worker process as such) and becomes a ``GrammarProcessor`` (rag.backends.grammar_sampler: the
    grammar checked on a few hundred candidates a token instead of the whole vocabulary) only here,
    after ``processors`` (e.g. a token counter, which must see the model's own scores)."""
    grammar = kwargs.get("grammar")
    chain = list(processors)
    if isinstance(grammar, str):
        from rag.backends.grammar_sampler import GrammarProcessor

        kwargs = {key: value for key, value in kwargs.items() if key != "grammar"}
        chain.append(GrammarProcessor(llama, grammar))
    if not chain:
        return kwargs
    from llama_cpp import LogitsProcessorList

    return {**kwargs, "logits_processor": LogitsProcessorList(chain)}
