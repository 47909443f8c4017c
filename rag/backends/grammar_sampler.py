"""Grammar-constrained sampling that checks a few hundred candidates a token, not the whole vocabulary.

llama-cpp-python hands a GBNF grammar to llama.cpp's grammar sampler, which matches every token of the
vocabulary against the grammar at every step: 49,152 pieces for SmolLM2, measured at ≈ 22 ms a token on
a 2-core EPYC — twice the model's own step (≈ 12 ms), so the citation grammar made each local answer ≈ 3 s
slower (bench/notes/first_answer.md). llama.cpp's own tools avoid it by sampling first and checking only
the chosen token; llama-cpp-python offers no such mode.

``GrammarProcessor`` is a logits processor (the public ``logits_processor`` hook) that keeps the grammar's
rule and checks only the candidates that can matter:

* the ``top_k`` best-scored tokens (the later samplers keep at most 40 of them anyway);
* every one-byte token, so that whatever the grammar requires next (a citation's ``[``, a closing tag,
  a full stop) can always be spelled, and the grammar never runs out of candidates;
* every token that is a piece of one of the grammar's literals (``"<reasoning>"``, ``"[S2]"``, the
  abstention): where the grammar forces a literal, the model's own choice is usually far down its
  ranking (it has no reason to write ``<reasoning>``), and the best token that fits must still be there;
* the end-of-generation tokens, which the grammar allows once it is complete.

Every other token gets ``-inf``. Should the grammar still reject every candidate, the whole vocabulary is
checked for that step, as llama.cpp would have. The grammar sampler lives outside llama-cpp-python's chain,
so it is told each token the model chose (``input_ids`` grows by one a step) before it filters the next.
"""

from __future__ import annotations

import ctypes
import re
import weakref
from typing import Any

import numpy as np

__all__ = ["DEFAULT_TOP_K", "GrammarProcessor", "always_candidates", "grammar_literals", "literal_candidates"]

DEFAULT_TOP_K = 256

# llama.cpp's llama_token_data, as numpy sees it: {int32 id; float logit; float p}
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


class _Vocabulary:
    """One model's pieces, read once (49,152 calls into llama.cpp take ≈ 50 ms): ``always`` (one-byte
    pieces and end-of-generation tokens) and ``by_piece`` (piece bytes → token id)."""

    def __init__(self, llama: Any) -> None:
        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        buffer = ctypes.create_string_buffer(256)
        always: list[int] = []
        self.by_piece: dict[bytes, int] = {}
        for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                always.append(token)
                continue
            length = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, True)
            if length == 1:
                always.append(token)
            if length > 0:
                self.by_piece.setdefault(buffer.raw[:length], token)
        self.always = np.asarray(always, dtype=np.int64)


_VOCABULARIES: dict[tuple[str, int], _Vocabulary] = {}


def _vocabulary(llama: Any) -> _Vocabulary:
    # Keyed by the model file, not the vocabulary's address: a freed model's address can be reused.
    key = (str(llama.model_path), llama.n_vocab())
    if key not in _VOCABULARIES:
        _VOCABULARIES[key] = _Vocabulary(llama)
    return _VOCABULARIES[key]


def always_candidates(llama: Any) -> np.ndarray:
    """The token ids every step checks: one-byte pieces and end-of-generation tokens (sorted)."""
    return _vocabulary(llama).always


def grammar_literals(grammar: str) -> list[str]:
    """The quoted literals of a GBNF grammar, unescaped."""
    return [re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)
            for body in _LITERAL.findall(grammar)]


def literal_candidates(llama: Any, grammar: str) -> np.ndarray:
    """Every token whose piece occurs inside one of the grammar's literals."""
    by_piece = _vocabulary(llama).by_piece
    ids: set[int] = set()
    for literal in grammar_literals(grammar):
        raw = literal.encode("utf-8")
        for start in range(len(raw)):
            for end in range(start + 1, len(raw) + 1):
                token = by_piece.get(raw[start:end])
                if token is not None:
                    ids.add(token)
    return np.asarray(sorted(ids), dtype=np.int64)


class GrammarProcessor:
    """A ``logits_processor`` for one generation under one GBNF grammar (make a new one per request:
    it holds the grammar's state)."""

    def __init__(self, llama: Any, grammar: str, *, top_k: int = DEFAULT_TOP_K) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            raise RuntimeError("llama.cpp could not parse the reply grammar")
        self._sampler = sampler
        self._finalizer = weakref.finalize(self, llama_cpp.llama_sampler_free, sampler)
        always = np.union1d(always_candidates(llama), literal_candidates(llama, grammar))
        self._always = always[always < llama.n_vocab()]  # ids the logits have, checked once not per token
        self._top_k = top_k
        self._prompt_tokens: int | None = None
        self._accepted = 0
        self.full_checks = 0  # steps where no candidate fitted and the whole vocabulary was checked

    def close(self) -> None:
        self._finalizer()

    def __call__(self, input_ids: Any, scores: np.ndarray) -> np.ndarray:
        if self._prompt_tokens is None:
            self._prompt_tokens = len(input_ids)
        for token in input_ids[self._prompt_tokens + self._accepted:]:
            self._llama_cpp.llama_sampler_accept(self._sampler, int(token))
            self._accepted += 1
        k = min(self._top_k, scores.shape[0])
        best = np.argpartition(scores, -k)[-k:]
        ids = np.union1d(best, self._always)
        logits = self._apply(ids, scores)
        if not np.isfinite(logits).any():
            self.full_checks += 1
            ids = np.arange(scores.shape[0])
            logits = self._apply(ids, scores)
        out = np.full_like(scores, -np.inf)
        out[ids] = logits
        return out

    def _apply(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """The grammar's verdict on ``ids``: their logits, or -inf where the grammar rejects them."""
        llama_cpp = self._llama_cpp
        data = np.zeros(len(ids), dtype=_TOKEN_DATA)
        data["id"] = ids
        data["logit"] = scores[ids]
        array = llama_cpp.llama_token_data_array(
            data=data.ctypes.data_as(llama_cpp.llama_token_data_p), size=len(ids), selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(array))
        # the grammar sampler only lowers logits in place; it neither reorders nor resizes the array
        return data["logit"].copy()
