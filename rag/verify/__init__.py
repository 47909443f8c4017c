"""The verifier: claims from the trace and the answer, checked against the sources they came from.

* ``rag.verify.claims``: split a text into ``Claim`` objects (span, citations, kind).
* ``rag.verify.items``: the checkable items in a text (numbers, quantities, dates, quotes, names…).
* ``rag.verify.cues``: key terms, negation and antonyms for aligning a claim with evidence sentences.
* ``rag.verify.exact``: the exact, lexical judge: ``check_exact(claim, evidence)``.

Submodules are imported on demand; this package imports nothing heavy.
"""
