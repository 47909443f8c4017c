"""Embedding backends side by side: torch vs ONNX Runtime (fp32, int8) on the same texts.

In each round every configuration encodes the same texts (SciFact abstracts, title + text, as the
ingest job reads them) once, in turn, so a noisy machine slows them alike; the report gives the median
over rounds and each configuration's speed relative to torch. It also times single questions (the
query path) and checks the vectors against torch's (cosine).

    .venv/bin/python bench/embed_backends.py --texts 512 --rounds 3
    .venv/bin/python bench/embed_backends.py --batch-sizes 16,32,64 --backends onnx
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit, machine_info  # noqa: E402

DEFAULT_CORPUS = "../shared/datasets/scifact/corpus.jsonl"


def corpus_texts(path: str, limit: int) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(f"{record.get('title') or ''}\n{record.get('text') or ''}")
            if len(texts) >= limit:
                break
    return texts


def run(args) -> dict:
    import numpy as np

    from rag.embedding import DenseEmbedder

    texts = corpus_texts(args.corpus, args.texts)
    questions = [text.split("\n", 1)[0][:120] for text in texts[: args.questions]]
    configs = []
    for backend in args.backends.split(","):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            configs.append((backend, batch_size))
    embedders = {}
    for backend, batch_size in configs:
        embedder = DenseEmbedder(backend=backend, batch_size=batch_size)
        embedder.embed(texts[:8])  # warm-up (and the ONNX export, when not cached yet)
        embedders[(backend, batch_size)] = embedder
    reference = embedders[configs[0]].embed(texts)
    seconds = {config: [] for config in configs}
    query_ms = {config: [] for config in configs}
    cosine = {}
    for _ in range(args.rounds):
        for config in configs:
            started = time.perf_counter()
            vectors = embedders[config].embed(texts)
            seconds[config].append(time.perf_counter() - started)
            cosine[config] = float((reference * vectors).sum(axis=1).min())
            for question in questions:
                started = time.perf_counter()
                embedders[config].embed_query(question)
                query_ms[config].append((time.perf_counter() - started) * 1000)
    baseline = statistics.median(seconds[configs[0]])
    baseline_query = statistics.median(query_ms[configs[0]])
    rows = []
    for config in configs:
        median = statistics.median(seconds[config])
        query = statistics.median(query_ms[config])
        rows.append(
            {
                "backend": config[0],
                "batch_size": config[1],
                "seconds": round(median, 3),
                "seconds_all_rounds": [round(s, 3) for s in seconds[config]],
                "texts_per_s": round(len(texts) / median, 2),
                "speed_vs_first": round(baseline / median, 3),
                "query_p50_ms": round(query, 2),
                "query_p95_ms": round(float(np.percentile(query_ms[config], 95)), 2),
                "query_speed_vs_first": round(baseline_query / query, 3),
                "min_cosine_vs_first": round(cosine[config], 5),
            }
        )
    return {
        "benchmark": "embed_backends",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "corpus": args.corpus,
        "texts": len(texts),
        "questions": len(questions),
        "rounds": args.rounds,
        "machine": machine_info(),
        "rows": rows,
    }


def render_markdown(result: dict, heading_level: int = 3) -> str:
    h = "#" * heading_level
    first = result["rows"][0]
    lines = [
        f"{h} Embedding backends: {result['texts']} SciFact abstracts",
        "",
        f"Run {result['date']} with `bench/embed_backends.py`; median of {result['rounds']} rounds, configurations "
        f"in turn within each round. Speeds are relative to the first row ({first['backend']}, batch "
        f"{first['batch_size']}); questions: {result['questions']} titles embedded one at a time. The ONNX "
        "backends cut batches of at most 16 texts (`rag.onnx_encoder.ONNX_BATCH`) and run them side by side.",
        "",
        "| backend | batch | texts/s | speed | question p50 ms | p95 ms | question speed | min cosine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['backend']} | {row['batch_size']} | {row['texts_per_s']:.1f} | {row['speed_vs_first']:.2f}× | "
            f"{row['query_p50_ms']:.1f} | {row['query_p95_ms']:.1f} | {row['query_speed_vs_first']:.2f}× | "
            f"{row['min_cosine_vs_first']:.4f} |"
        )
    machine = result["machine"]
    lines += [
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), torch {machine['torch']}, load average at "
        f"start {', '.join(f'{x:.2f}' for x in machine.get('load_average_at_start') or [])}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--batch-sizes", default="64")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--render", type=Path, metavar="JSON")
    args = parser.parse_args()
    if args.render:
        print(render_markdown(json.loads(args.render.read_text())))
        return
    result = run(args)
    emit(result, render_markdown, args.out, None)


if __name__ == "__main__":
    main()
