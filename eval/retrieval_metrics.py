"""Retrieval metrics with ranx: nDCG@10, Recall@k, MRR, per question and on average.

A question's ranking is the documents of the passages retrieval returned, best first, each document
once (a document's rank is that of its best passage), as BEIR scores retrieval. Relevance comes from
the data set's judgements (BEIR qrels) or from the questions' source documents (``source_doc_ids``).
Recall is reported at 1, 5, 10 and 100 — the cutoffs up to the retrieval depth ``top_k``, plus
``top_k`` itself; MRR is over the whole ranking.

Questions that need several documents (multi-hop: eval.loaders.multihop) are also scored by
``all_recalled@k``: 1 when every relevant document is in the top k, else 0. Recall@k gives half credit
for finding one side of a two-fact question; an answer needs both.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from rag.types import Passage

RECALL_CUTOFFS = (1, 5, 10, 100)
NDCG_CUTOFF = 10


def metric_names(depth: int) -> list[str]:
    cutoffs = [k for k in RECALL_CUTOFFS if k <= depth]
    if depth not in cutoffs and depth < max(RECALL_CUTOFFS):
        cutoffs.append(depth)
    return [f"ndcg@{NDCG_CUTOFF}", *(f"recall@{k}" for k in sorted(cutoffs)), "mrr"]


def all_recalled_names(depth: int) -> list[str]:
    return [name.replace("recall@", "all_recalled@") for name in metric_names(depth) if name.startswith("recall@")]


def all_recalled(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per judged question, for each ``all_recalled@k`` name: 1.0 when all its relevant documents are in
    the top k of its ranking, else 0.0."""
    cutoffs = {name: int(name.rsplit("@", 1)[1]) for name in names}
    scores: dict[str, dict[str, float]] = {}
    for qid, relevant in qrels.items():
        wanted = {doc_id for doc_id, grade in relevant.items() if grade > 0}
        if qid not in rankings or not wanted:
            continue
        ranking = list(rankings[qid])
        scores[qid] = {name: float(wanted <= set(ranking[:k])) for name, k in cutoffs.items()}
    return scores


def document_ranking(passages: Iterable[Passage]) -> list[str]:
    """Document ids in the order of their best passage (passages come best first)."""
    ranking: list[str] = []
    for passage in passages:
        if passage.doc_id not in ranking:
            ranking.append(passage.doc_id)
    return ranking


def score_rankings(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per question id, each metric. Questions without judgements are left out; a question that
    retrieved nothing scores 0 on everything."""
    from ranx import Qrels, Run, evaluate

    judged = {qid: dict(relevant) for qid, relevant in qrels.items() if qid in rankings and relevant}
    if not judged:
        return {}
    runs = {
        qid: {doc_id: float(len(ranking) - rank) for rank, doc_id in enumerate(ranking)}
        for qid, ranking in rankings.items()
        if qid in judged and ranking
    }
    scores: dict[str, dict[str, float]] = {qid: {metric: 0.0 for metric in metrics} for qid in judged}
    if not runs:
        return scores
    ranx_qrels, ranx_run = Qrels(judged), Run(runs)
    evaluate(ranx_qrels, ranx_run, list(metrics), make_comparable=True)
    for metric in metrics:
        for qid, value in ranx_run.scores[metric].items():
            if qid in scores:
                scores[qid][metric] = float(value)
    return scores


def recall_curve(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], depth: int
) -> list[tuple[int, float]]:
    """Mean Recall@k for k = 1…depth (the curve in the HTML report)."""
    ks = list(range(1, max(1, depth) + 1))
    per_query = score_rankings(rankings, qrels, [f"recall@{k}" for k in ks])
    if not per_query:
        return []
    return [(k, sum(s[f"recall@{k}"] for s in per_query.values()) / len(per_query)) for k in ks]
