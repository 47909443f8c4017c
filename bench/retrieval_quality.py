"""Retrieval quality on a BEIR dataset: dense only vs BM25 only vs hybrid (RRF, DBSF), scored with ranx.

The corpus is ingested with verirag's own ``IngestJob`` (its chunker, its embedder, BM25 via Qdrant's
tokenizer with the IDF modifier) into a persistent embedded store, so a rerun reuses it (the job is
idempotent: a second run on the same data dir writes nothing). Then, for every query that has
relevance judgements, four rankings are made through verirag's ``Retriever``:

  dense        ``Retriever.dense_only(q, k=DEPTH)``   nearest chunks by the dense vector alone
  bm25         ``Retriever.sparse_only(q, k=DEPTH)``  best chunks by BM25 alone
  hybrid-rrf   ``Retriever.retrieve(q, top_k=DEPTH, fusion="rrf")``   one hybrid query, fused in Qdrant
  hybrid-dbsf  ``Retriever.retrieve(q, top_k=DEPTH, fusion="dbsf")``

with no reranker and neighbour expansion off (``expand_budget_tokens=0``), so every returned passage
is one chunk. Rankings are made document-level the way BEIR scores them: a document's score is its
best chunk's score, documents are ranked by it and the top ``--docs`` (100) are kept. DEPTH
(``--chunk-depth``, default 300 chunks) is deeper than 100 because a document can have several
chunks; the hybrid prefetches are then ``4 × DEPTH`` deep (the store's default). Each question is
embedded once and the vector reused by the three paths that need it.

Metrics (ranx): nDCG@10, Recall@100, MRR@10.

    .venv/bin/python bench/retrieval_quality.py --limit-queries 20 --corpus-limit 300   # quick check
    .venv/bin/python bench/retrieval_quality.py --out bench/results/scifact-quality.json  # all queries
    .venv/bin/python bench/retrieval_quality.py --render bench/results/scifact-quality.json

The SciFact copy at ../shared/datasets/scifact is the TRAIN split (809 queries, 919 judgements);
published SciFact numbers are on the 300 TEST queries, so they are anchors, not targets.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit  # noqa: E402  (needs the repository root on sys.path)

DEFAULT_DATASET = "../shared/datasets/scifact"
DEFAULT_DATA_DIR = ROOT / "bench" / "out" / "scifact-data"
METHODS = ("dense", "bm25", "hybrid-rrf", "hybrid-dbsf")
METHOD_NAMES = {
    "dense": "dense only (`dense_only`)",
    "bm25": "BM25 only (`sparse_only`)",
    "hybrid-rrf": "hybrid, RRF (`retrieve`, fusion=rrf)",
    "hybrid-dbsf": "hybrid, DBSF (`retrieve`, fusion=dbsf)",
}
METRICS = ("ndcg@10", "recall@100", "mrr@10")
# Published SciFact TEST-split nDCG@10 (300 queries; BEIR paper / Pyserini for BM25, MTEB for the models).
ANCHORS = {
    "split": "test (300 queries)",
    "metric": "ndcg@10",
    "bm25": "0.665–0.679 (BEIR paper's Elasticsearch BM25 0.665; Pyserini BM25 flat/multifield up to 0.679)",
    "all-MiniLM-L6-v2": "0.645 (MTEB)",
    "bge-small-en-v1.5": "0.713 (MTEB)",
    "note": "these numbers are for the TEST queries; this benchmark scores the TRAIN queries it is given, "
    "with verirag's chunking (best chunk per document) and Qdrant's BM25 tokenizer — anchors, not a like-for-like "
    "comparison",
}


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- the dataset ---------------------------------------------------------------------------------
def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                queries[str(record["_id"] if "_id" in record else record["id"])] = str(record["text"])
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR ``qrels/*.tsv``: ``query-id <tab> corpus-id <tab> score`` after a header line
    (the header's second column is ``corpus-id`` or ``doc-id`` depending on the copy)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                continue
            if number == 0 and not fields[2].strip().lstrip("-").isdigit():
                continue  # the header
            query_id, doc_id, score = fields[0].strip(), fields[1].strip(), int(fields[2])
            if score > 0:
                qrels.setdefault(query_id, {})[doc_id] = score
    return qrels


def corpus_lines(path: Path) -> list[tuple[str, str]]:
    """(doc id, raw line) for every record, in file order."""
    lines = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                lines.append((str(record.get("_id", record.get("id"))), line if line.endswith("\n") else line + "\n"))
    return lines


def sub_corpus(lines: list[tuple[str, str]], wanted: set[str], limit: int) -> list[tuple[str, str]]:
    """At most ``limit`` records: the judged-relevant documents of the evaluated queries first
    (so the quick check still has something to find), then the first other records as distractors."""
    relevant = [item for item in lines if item[0] in wanted][:limit]
    chosen = {doc_id for doc_id, _ in relevant}
    others = [item for item in lines if item[0] not in chosen][: max(0, limit - len(relevant))]
    keep = chosen | {doc_id for doc_id, _ in others}
    return [item for item in lines if item[0] in keep]  # file order


def write_corpus(records: list[tuple[str, str]], path: Path) -> None:
    """The job reads BEIR records as {"id", "title", "text"}: BEIR's ``_id`` is renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for _, line in records:
        record = json.loads(line)
        if "_id" in record and "id" not in record:
            record = {"id": record.pop("_id"), **record}
        out.append(json.dumps(record, ensure_ascii=False) + "\n")
    text = "".join(out)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


# -- the embedder, once per question ------------------------------------------------------------
class OnceEmbedder:
    """The real embedder, remembering each question's vector: dense_only and the two hybrid
    queries then use the same vector, and the benchmark encodes each question once."""

    def __init__(self, embedder):
        self._embedder = embedder
        self._cache: dict[str, object] = {}
        self.encode_seconds = 0.0

    def embed_query(self, text: str):
        vector = self._cache.get(text)
        if vector is None:
            started = time.perf_counter()
            vector = self._embedder.embed_query(text)
            self.encode_seconds += time.perf_counter() - started
            self._cache[text] = vector
        return vector

    def __getattr__(self, name):
        return getattr(self._embedder, name)


# -- rankings ------------------------------------------------------------------------------------
def document_ranking(passages, score_name: str, docs: int) -> dict[str, float]:
    """Best chunk score per document, the top ``docs`` documents."""
    best: dict[str, float] = {}
    for passage in passages:
        score = float(passage.scores[score_name])
        if passage.doc_id not in best or score > best[passage.doc_id]:
            best[passage.doc_id] = score
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:docs]
    return dict(ranked)


def rank_all(retriever, questions: dict[str, str], depth: int, docs: int, progress_every: int = 100):
    runs: dict[str, dict[str, dict[str, float]]] = {method: {} for method in METHODS}
    seconds = {method: 0.0 for method in METHODS}
    chunks_seen = {method: 0 for method in METHODS}
    if questions:  # first calls into the engine are slower: keep them out of the timers
        warm = next(iter(questions.values()))
        retriever.dense_only(warm, depth), retriever.sparse_only(warm, depth), retriever.retrieve(warm, top_k=depth)
    for number, (query_id, question) in enumerate(questions.items(), 1):
        retriever.embedder.embed_query(question)  # once, outside the per-method timers
        for method in METHODS:
            started = time.perf_counter()
            if method == "dense":
                passages, score = retriever.dense_only(question, depth), "dense"
            elif method == "bm25":
                passages, score = retriever.sparse_only(question, depth), "sparse"
            else:
                passages = retriever.retrieve(question, top_k=depth, fusion=method.split("-", 1)[1])
                score = "fused"
            seconds[method] += time.perf_counter() - started
            chunks_seen[method] += len(passages)
            runs[method][query_id] = document_ranking(passages, score, docs)
        if progress_every and number % progress_every == 0:
            log(f"  {number}/{len(questions)} queries")
    return runs, seconds, chunks_seen


def evaluate_runs(qrels: dict, runs: dict, save_dir: Path | None = None, compare: bool = False):
    from ranx import Qrels, Run, evaluate

    ranx_qrels = Qrels(qrels, name="qrels")
    results = {}
    ranx_runs = []
    for method in METHODS:
        # A query a method returns nothing for (BM25 with no indexable term) still counts, as zeros.
        run = Run({q: (ranking or {}) for q, ranking in runs[method].items() if ranking}, name=method)
        ranx_runs.append(run)
        scores = evaluate(ranx_qrels, run, list(METRICS), make_comparable=True)
        results[method] = {metric: round(float(scores[metric]), 4) for metric in METRICS}
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            run.save(str(save_dir / f"{method}.trec"), kind="trec")
    report = None
    if compare:
        from ranx import compare as ranx_compare

        report = str(ranx_compare(ranx_qrels, ranx_runs, list(METRICS), stat_test="student", max_p=0.05,
                                  make_comparable=True))
    return results, report


def split_note(name: str, qrels_path: Path, qrels: dict) -> str:
    judgements = sum(len(v) for v in qrels.values())
    which = qrels_path.stem if qrels_path.parent.name == "qrels" else None
    if "scifact" in name.lower() and len(qrels) == 809 and judgements == 919:
        which = "train"
    if which in ("train", "dev"):
        return (f"the {which.upper()} queries ({len(qrels):,} judged queries, {judgements:,} judgements), not the "
                "TEST queries published numbers are measured on")
    return f"{len(qrels):,} judged queries, {judgements:,} judgements from {qrels_path.name}"


# -- the run -------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    from ingest.job import IngestJob, IngestOptions
    from rag.embedding import SparseEncoder, embedder_for
    from rag.retrieval import Retriever
    from rag.settings import Settings
    from rag.store import open_store

    from bench.common import machine_info, model_label

    dataset = Path(args.dataset).expanduser().resolve()
    corpus_path = dataset / "corpus.jsonl"
    queries_path = dataset / "queries.jsonl"
    qrels_path = Path(args.qrels) if args.qrels else dataset / "qrels.tsv"
    if not qrels_path.exists() and (dataset / "qrels" / f"{args.split}.tsv").exists():
        qrels_path = dataset / "qrels" / f"{args.split}.tsv"
    data_dir = Path(args.data_dir).expanduser().resolve()

    machine = machine_info()
    from importlib.metadata import version

    machine["packages"]["ranx"] = version("ranx")
    log(f"machine: {machine['nproc']} cpu ({machine['cpu_model']}), torch {machine['torch']}, "
        f"{machine['torch_threads']} threads, load {machine['load_average_at_start']}")

    queries = read_queries(queries_path)
    qrels = read_qrels(qrels_path)
    judged = [q for q in queries if q in qrels]  # queries.jsonl order
    if args.limit_queries is not None:
        judged = judged[: args.limit_queries]
    lines = corpus_lines(corpus_path)

    name = dataset.name or "beir"
    if args.corpus_limit is not None:
        wanted = {doc for q in judged for doc in qrels[q]}
        records = sub_corpus(lines, wanted, args.corpus_limit)
        digest = hashlib.sha256("\n".join(sorted(d for d, _ in records)).encode()).hexdigest()[:8]
        collection = f"{name}-sub{len(records)}-{digest}"
        ingest_path = data_dir / "corpora" / collection / "corpus.jsonl"
        write_corpus(records, ingest_path)
    else:
        records = lines
        collection = name
        if any('"_id"' in line for _, line in lines[:5]):  # BEIR's own field name: rename for the job
            ingest_path = data_dir / "corpora" / collection / "corpus.jsonl"
            write_corpus(records, ingest_path)
        else:
            ingest_path = corpus_path
    in_corpus = {doc_id for doc_id, _ in records}
    eval_qrels = {}
    for q in judged:
        kept = {d: s for d, s in qrels[q].items() if d in in_corpus}
        if kept:
            eval_qrels[q] = kept
    dropped = len(judged) - len(eval_qrels)
    questions = {q: queries[q] for q in eval_qrels}
    log(f"dataset {dataset}: {len(queries)} queries, {len(qrels)} judged, evaluating {len(questions)}"
        + (f" ({dropped} dropped: none of their judged documents is in the corpus)" if dropped else "")
        + f"; corpus {len(records)} of {len(lines)} records → collection {collection!r} under {data_dir}")

    settings = Settings(data_dir=data_dir, qdrant_url=None)
    t0 = time.perf_counter()
    embedder = embedder_for(settings)
    embedder.embed(["warm up"])
    load_seconds = time.perf_counter() - t0

    log(f"ingesting {ingest_path} (reused when already there) …")
    report = IngestJob(settings, embedder).run(
        IngestOptions(paths=[str(ingest_path)], collection=collection, progress=False)
    )
    log(f"ingest: {report.files.new} new, {report.files.changed} changed, {report.files.unchanged} unchanged, "
        f"{report.chunks.written} chunks written, {len(report.failures)} failures, {report.seconds:.1f}s")

    if args.torch_threads is not None:  # after the ingest: batch encoding wants every core
        import torch

        torch.set_num_threads(args.torch_threads)
    store = open_store(settings, collection)
    try:
        info = store.info()
        log(f"collection: {info.points} chunks from {info.documents} documents")
        once = OnceEmbedder(embedder)
        retriever = Retriever(
            store, once, SparseEncoder(settings.bm25_avg_len), reranker=None, expand_budget_tokens=0
        )
        started = time.perf_counter()
        runs, seconds, chunks_seen = rank_all(retriever, questions, args.chunk_depth, args.docs)
        ranking_seconds = time.perf_counter() - started
    finally:
        store.close()
    log(f"ranked {len(questions)} queries × {len(METHODS)} methods in {ranking_seconds:.1f}s "
        f"(question encoding {once.encode_seconds:.1f}s); evaluating with ranx …")

    t0 = time.perf_counter()
    metrics, comparison = evaluate_runs(eval_qrels, runs, args.save_runs, args.compare)
    eval_seconds = time.perf_counter() - t0
    if comparison:
        log(comparison)

    n = max(1, len(questions))
    per_method = {}
    for method in METHODS:
        returned = [len(r) for r in runs[method].values()]
        per_method[method] = {
            "name": METHOD_NAMES[method],
            **metrics[method],
            "mean_docs_returned": round(sum(returned) / n, 1),
            "queries_with_no_result": sum(1 for q in questions if not runs[method].get(q)),
            "mean_chunks_returned": round(chunks_seen[method] / n, 1),
            "ms_per_query_store": round(1000 * seconds[method] / n, 2),
        }
    try:
        machine["load_average_at_end"] = list(os.getloadavg())
    except OSError:
        machine["load_average_at_end"] = None
    return {
        "benchmark": "retrieval_quality",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": str(dataset),
        "qrels": str(qrels_path),
        "judged_queries": len(qrels),
        "judgements": sum(len(v) for v in qrels.values()),
        "split_note": split_note(name, qrels_path, qrels),
        "queries_evaluated": len(questions),
        "queries_dropped_no_judged_doc": dropped,
        "limit_queries": args.limit_queries,
        "corpus_records": len(records),
        "corpus_limit": args.corpus_limit,
        "collection": collection,
        "data_dir": str(data_dir),
        "store": {"backend": info.backend, "points": info.points, "documents": info.documents},
        "ingest": {
            "new": report.files.new,
            "changed": report.files.changed,
            "unchanged": report.files.unchanged,
            "chunks_written": report.chunks.written,
            "failures": len(report.failures),
            "seconds": report.seconds,
            "reused": report.chunks.written == 0,
        },
        "model": model_label(str(embedder.model_path)),
        "model_path": str(embedder.model_path),
        "device": settings.embed_device,
        "chunking": {"chunk_tokens": settings.chunk_tokens, "chunk_overlap_tokens": settings.chunk_overlap_tokens},
        "bm25_avg_len": settings.bm25_avg_len,
        "chunk_depth": args.chunk_depth,
        "hybrid_prefetch_depth": max(args.chunk_depth * 4, 40),
        "docs_kept": args.docs,
        "aggregation": "document score = best chunk score; top docs_kept documents",
        "torch_threads_for_questions": args.torch_threads,
        "retriever": "Retriever(reranker=None, expand_budget_tokens=0); each question embedded once",
        "metrics": list(METRICS),
        "results": per_method,
        "ranx_comparison": comparison,
        "anchors": ANCHORS,
        "timing": {
            "model_load_seconds": round(load_seconds, 2),
            "ranking_seconds": round(ranking_seconds, 2),
            "question_encode_seconds": round(once.encode_seconds, 2),
            "ranx_seconds": round(eval_seconds, 2),
        },
        "machine": machine,
    }


# -- markdown ------------------------------------------------------------------------------------
def render_markdown(result: dict, heading_level: int = 2) -> str:
    h = "#" * heading_level
    m = result["machine"]
    name = Path(result["dataset"]).name or result["dataset"]
    scope = f"{result['queries_evaluated']:,} queries"
    if result.get("limit_queries"):
        scope += f" (first {result['limit_queries']:,} judged)"
    corpus = f"{result['corpus_records']:,} documents"
    if result.get("corpus_limit"):
        corpus += " (sub-corpus: the judged documents of these queries, then the first other records)"
    lines = [
        f"{h} Retrieval quality: {name}, {scope}",
        "",
        f"Run {result['date']} with `bench/retrieval_quality.py`"
        + (f" `--limit-queries {result['limit_queries']}`" if result.get("limit_queries") else "")
        + (f" `--corpus-limit {result['corpus_limit']}`" if result.get("corpus_limit") else "")
        + f". Corpus: {corpus}, {result['store']['points']:,} chunks in the embedded store "
        f"(model `{result['model']}`, chunks ≤ {result['chunking']['chunk_tokens']} tokens). "
        f"Document-level: best chunk per document, top {result['docs_kept']} documents from "
        f"{result['chunk_depth']} chunks (hybrid prefetch {result['hybrid_prefetch_depth']}); "
        "no reranker, no neighbour expansion.",
        "",
        "| method | nDCG@10 | Recall@100 | MRR@10 | docs returned (mean) | retrieval ms/query |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method in METHODS:
        row = result["results"][method]
        lines.append(
            f"| {row['name']} | {row['ndcg@10']:.4f} | {row['recall@100']:.4f} | {row['mrr@10']:.4f} | "
            f"{row['mean_docs_returned']:.1f} | {row['ms_per_query_store']:.1f} |"
        )
    a = result["anchors"]
    loads = ", ".join(f"{x:.2f}" for x in m.get("load_average_at_start") or []) or "unknown"
    lines += [
        "",
        f"- **Queries: {result['split_note']}.** Published SciFact {a['split']} nDCG@10 anchors: "
        f"BM25 {a['bm25']}; all-MiniLM-L6-v2 {a['all-MiniLM-L6-v2']}; bge-small-en-v1.5 {a['bge-small-en-v1.5']}. "
        "They are not a like-for-like comparison (other queries; verirag ranks chunks and keeps each "
        "document's best one; BM25 here is Qdrant's tokenizer with the IDF modifier, not Lucene).",
        f"- Ingest: {'reused the stored collection' if result['ingest']['reused'] else 'built the collection'} "
        f"({result['ingest']['chunks_written']:,} chunks written in {result['ingest']['seconds']:.0f}s); "
        f"ranking {result['timing']['ranking_seconds']:.0f}s, of which question encoding "
        f"{result['timing']['question_encode_seconds']:.0f}s; ranx {result['timing']['ranx_seconds']:.0f}s.",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), torch {m['torch']} with {m['torch_threads']} threads, "
        f"load average at start {loads}"
        + (f"; questions encoded with `--torch-threads {result['torch_threads_for_questions']}`"
           if result.get("torch_threads_for_questions") else "")
        + ". Quality does not depend on load; the ms column does (retrieval calls only, the question "
        "encoding excluded).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dataset", default=DEFAULT_DATASET,
                        help="BEIR folder with corpus.jsonl, queries.jsonl and qrels.tsv (or qrels/SPLIT.tsv)")
    parser.add_argument("--qrels", default=None, help="judgements file (default: DATASET/qrels.tsv)")
    parser.add_argument("--split", default="test", help="with a qrels/ folder: which SPLIT.tsv (default test)")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                        help="persistent verirag data dir for the ingested corpus (reused on reruns)")
    parser.add_argument("--limit-queries", type=int, default=None, help="evaluate only the first N judged queries")
    parser.add_argument("--corpus-limit", type=int, default=None,
                        help="ingest a sub-corpus of N records: the judged documents of the evaluated queries, "
                        "then the first other records (its own collection in the data dir)")
    parser.add_argument("--chunk-depth", type=int, default=300, help="chunks fetched per method and query")
    parser.add_argument("--docs", type=int, default=100, help="documents kept per ranking")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads for the question encoder (default: torch's; 1 is much faster "
                        "for one question at a time on a busy machine; the rankings do not depend on it)")
    parser.add_argument("--compare", action="store_true", help="also print ranx's paired t-test comparison")
    parser.add_argument("--save-runs", type=Path, default=None, metavar="DIR", help="write each run as TREC here")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the markdown section here")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="print the markdown section for a saved result and exit")
    args = parser.parse_args(argv)

    if args.render is not None:
        print(render_markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    for flag in ("limit_queries", "corpus_limit", "chunk_depth", "docs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")

    emit(run(args), render_markdown, args.out, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
