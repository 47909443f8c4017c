"""verirag evaluation: runs over golden data sets (retrieval, answers, abstention, the verifier,
latency and cost), their reports, and the comparison of two runs. Imports rag (and ingest to index a
data set's corpus); nothing imports eval.

* ``eval.loaders`` — one loader per data set format, and format detection.
* ``eval.runner`` — ``verirag eval run``; ``eval.item_evaluation`` evaluates one item, ``eval.itemlog`` resumes.
* ``eval.retrieval_metrics`` (ranx), ``eval.answer_metrics`` (ragas), ``eval.detection`` (the verifier
  and its baselines), ``eval.catalog`` (every aggregate, by name).
* ``eval.results``, ``eval.report_md``, ``eval.report_html``, ``eval.plots`` — the reports.
* ``eval.compare`` + ``eval.bootstrap`` — ``verirag eval compare`` and ``--fail-if``.
"""
