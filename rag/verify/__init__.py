"""The verifier: claims from the trace and the answer, checked against the sources they came from.

* ``rag.verify.claims``: split a text into ``Claim`` objects (span, citations, kind).
* ``rag.verify.items``: the checkable items in a text (numbers, quantities, dates, quotes, names…).
* ``rag.verify.cues``: key terms, negation and antonyms for aligning a claim with evidence sentences.
* ``rag.verify.lexicon``: the word lists the claim splitter and the exact judge share.
* ``rag.verify.exact``: the exact, lexical judge: ``check_exact(claim, evidence)``;
  ``rag.verify.spelling``: names and codes written another way.
* ``rag.verify.evidence``: candidate evidence spans, ranked by term overlap and similarity;
  ``rag.verify.reading``: more sentences of a long passage for the entailment model (off by default).
* ``rag.verify.judging``: the cheap judges in order (exact, then similarity when entailment is off).
* ``rag.verify.entailment`` / ``rag.verify.entailment_judging``: the entailment model, and the layer that
  reads claims beside their spans with it.
* ``rag.verify.screening``: repeats, restatements of the question, topic statements.
* ``rag.verify.claim_state``, ``rag.verify.trace``: per-claim rules and the reasoning trace.
* ``rag.verify.llm_judge``: the LLM judge, for claims the cheaper judges leave undecided.
* ``rag.verify.verifier``: ``AnswerVerifier``, which runs them all and returns a ``Verdict``
  (``rag.verify.verdict``: the types and their JSON; ``rag.verify.verdict_rule``: the answer's label and
  score from its judged claims, a pure function).
* ``rag.verify.policy``: what to do with a verdict (accept, flag, retry, abstain).
* ``rag.verify.given``: the input rules of checking a given answer (``verirag verify``, ``POST /v1/verify``).

Submodules are imported on demand; this package imports nothing heavy.
"""
