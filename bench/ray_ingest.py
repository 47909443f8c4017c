"""The Ray ingest engine against the local one on a BEIR corpus: documents/s, same points, rerun.

Measured in one process, one after the other, on one copy of the corpus (compare the ratios):

  L   local     ``IngestJob(settings).run`` into collection "local" (the baseline)
  R1  Ray, 1 encoder actor (1 CPU) + parse tasks        into "ray1"
  R2  Ray, 2 encoder actors (0.5 CPU each) + parse tasks into "ray2" (on 2 cores the only way two fit
      beside a parse task: see ingest/ray_engine.py's resource check)
  E   encoder ceiling: the default embedder's ``embed`` over exactly the chunks the job embeds
  W   embedded-store write rate: upserting the run's points into a fresh collection

Every run's timer covers ``job.run``: discovery, plan, parse, chunk, embed, write; for Ray also the
actors loading the model and the tasks' worker processes warming up, which a run pays each time.
Not timed: the driver's own model load (done once before any run) and starting the Ray instance
(reported as ``ray_init_s``). Then each Ray run is compared point by point with L (ids, payloads
without ``ingested_at``, sparse vectors, dense vectors within 1e-5), and the first is rerun: it must
write and delete nothing. ``--configs R2`` runs only the arrangements named.

    .venv/bin/python bench/ray_ingest.py --limit 1000 --out bench/results/ray-ingest.json \\
        --markdown bench/results/ray-ingest.md
    .venv/bin/python bench/ray_ingest.py            # the whole 5,183-abstract SciFact corpus
    .venv/bin/python bench/ray_ingest.py --configs R2 --out bench/results/ray-ingest-scifact-full.json \
        --markdown bench/results/ray-ingest-scifact-full.md    # the whole corpus, local against R2 only

The embedder runs on torch by default (``--embed-backend``): the int8 ONNX model that ``auto`` picks on
a CPU quantizes activations over the whole batch, so a chunk's vector depends on which chunks share
its batch — in the local engine too — and two engines that batch differently agree only within that
quantization error (measured: bench/results/ray-ingest-onnx-int8.json).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit, machine_info

DEFAULT_CORPUS = "../shared/datasets/scifact/corpus.jsonl"
OBJECT_STORE_BYTES = 200 * 1024 * 1024
CONFIGS = {  # name → (actors, CPUs per actor)
    "R1": (1, 1.0),
    "R2": (2, 0.5),
}


def prefix_corpus(corpus: Path, limit: int | None, workdir: Path) -> tuple[Path, int]:
    target = workdir / "corpus.jsonl"
    count = 0
    with open(corpus, encoding="utf-8") as source, open(target, "w", encoding="utf-8") as out:
        for line in source:
            if limit is not None and count >= limit:
                break
            if line.strip():
                out.write(line)
                count += 1
    return target, count


def compare(settings, expected: str, actual: str) -> dict:
    """Point by point, as the tests do (tests/ingest/ray_points.py), with the largest differences."""
    import numpy as np

    from tests.ingest.ray_points import collection_points

    a, b = collection_points(settings, expected), collection_points(settings, actual)
    same_ids = set(a) == set(b)
    payload_diffs = sum(1 for k in a if k in b and a[k][0] != b[k][0])
    sparse_diffs = sum(1 for k in a if k in b and a[k][2] != b[k][2])
    dense = max((float(np.max(np.abs(np.asarray(a[k][1]) - np.asarray(b[k][1])))) for k in a if k in b), default=0.0)
    return {
        "points": len(a), "same_ids": same_ids, "payload_differences": payload_diffs,
        "sparse_differences": sparse_diffs, "max_dense_abs_difference": dense,
        "equal": same_ids and payload_diffs == 0 and sparse_diffs == 0 and dense <= 1e-5,
    }


def encoder_and_write_rates(settings, corpus: Path, collection: str) -> dict:
    """E and W: the encoder alone on exactly the texts the job embeds (the job's own chunking), and
    upserts of the stored points into a fresh embedded collection."""
    from ingest.job import chunker_for, local_writer, prepare_document
    from ingest.plan import document_hash, pipeline_fingerprint
    from ingest.sources import discover
    from rag.embedding import embedder_for
    from rag.store import open_store
    from rag.types import SparseVector, StoredPoint
    from tests.ingest.ray_points import collection_points

    embedder = embedder_for(settings)
    chunker, fingerprint = chunker_for(embedder, settings), pipeline_fingerprint(settings)
    texts = []
    for source in discover([corpus]).sources:
        prepared = prepare_document(source, document_hash(source, fingerprint), True, chunker, lambda: None, local_writer())
        texts += [chunk.embedding_text for chunk in prepared.chunks]
    embedder.embed(texts[:64])  # warm
    started = time.perf_counter()
    embedder.embed(texts)
    encode_s = time.perf_counter() - started
    points = collection_points(settings, collection)
    stored = [StoredPoint(k, v[1], SparseVector(tuple(v[2]), tuple(v[2].values())), v[0]) for k, v in points.items()]
    target = open_store(settings, "write-rate", dimension=embedder.dimension)
    try:
        started = time.perf_counter()
        for start in range(0, len(stored), 512):
            target.upsert(stored[start : start + 512])
        target.flush()
        write_s = time.perf_counter() - started
    finally:
        target.close()
    return {
        "encoder_chunks": len(texts),
        "encoder_chunks_per_s": round(len(texts) / encode_s, 2),
        "embedded_upsert_points_per_s": round(len(stored) / write_s, 1),
    }


def run(corpus: Path, limit: int | None, embed_backend: str, configs: tuple[str, ...] = tuple(CONFIGS)) -> dict:
    import ray

    from ingest.job import IngestJob, IngestOptions
    from ingest.ray_engine import RayIngestJob, RayOptions
    from rag.embedding import embedder_for
    from rag.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="verirag-ray-bench-"))
    path, documents = prefix_corpus(corpus, limit, workdir)
    settings = Settings(data_dir=workdir / "data", embed_backend=embed_backend)
    embedder_for(settings)  # the driver's model, loaded (and its ONNX export made) before any timer
    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False,
             logging_level=logging.WARNING, configure_logging=False)
    ray_init_s = time.perf_counter() - started
    runs: dict[str, dict] = {}
    try:
        def timed(name: str, job) -> dict:
            load = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews a run: say how much
            began = time.perf_counter()
            report = job.run(IngestOptions(paths=[str(path)], collection=name.lower(), progress=False))
            seconds = time.perf_counter() - began
            print(f"{name}: {report.summary()}", file=sys.stderr, flush=True)
            return {"seconds": round(seconds, 2), "documents": report.files.new + report.files.changed,
                    "chunks": report.chunks.written, "failed": report.files.failed,
                    "docs_per_s": round(documents / seconds, 2), "chunks_per_s": round(report.chunks.written / seconds, 2),
                    "load_average_before": load}

        runs["L"] = timed("L", IngestJob(settings))
        for name in configs:
            actors, cpus = CONFIGS[name]
            runs[name] = timed(name, RayIngestJob(settings, RayOptions(actors=actors, cpus_per_actor=cpus)))
            runs[name]["actors"], runs[name]["cpus_per_actor"] = actors, cpus
            runs[name]["vs_local"] = round(runs["L"]["seconds"] / runs[name]["seconds"], 3)
        began = time.perf_counter()
        rerun = RayIngestJob(settings, RayOptions()).run(
            IngestOptions(paths=[str(path)], collection=configs[0].lower(), progress=False))
        rerun_result = {"seconds": round(time.perf_counter() - began, 2), "written": rerun.chunks.written,
                        "deleted": rerun.chunks.deleted, "unchanged": rerun.files.unchanged}
    finally:
        ray.shutdown()
    return {
        "figure": "ray-ingest",
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d"),
        "machine": machine_info(),
        "gpu": "none on this machine: every encoder ran on the CPU",
        "corpus": str(corpus), "limit": limit, "documents": documents,
        "embed_backend": settings.embed_backend, "ray_version": ray.__version__, "ray_init_s": round(ray_init_s, 2),
        "runs": runs,
        "equivalence": {name: compare(settings, "l", name.lower()) for name in configs},
        "rerun": rerun_result,
        "rates": encoder_and_write_rates(settings, path, "l"),
    }


def render_markdown(result: dict) -> str:
    runs, rates = result.get("runs", {}), result.get("rates", {})
    which = f"first {result['limit']}" if result.get("limit") else "the whole corpus"
    lines = [
        (f"{result.get('documents')} SciFact abstracts ({which}), "
         f"{result.get('machine', {}).get('nproc', '?')} cores, Ray {result.get('ray_version')}, "
         f"embedder backend `{result.get('embed_backend')}`; {result.get('gpu')}. Measured {result.get('date')}."),
        "",
        "| engine | encoder actors | seconds | documents/s | chunks/s | vs local | load average before (1, 5, 15 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"L": "local (baseline)", "R1": "Ray", "R2": "Ray"}
    for key, data in runs.items():
        lines.append(
            f"| {names.get(key, key)} | {data.get('actors', '—')}"
            f"{' × ' + format(data['cpus_per_actor'], 'g') + ' CPU' if 'cpus_per_actor' in data else ''} | "
            f"{data.get('seconds')} | {data.get('docs_per_s')} | {data.get('chunks_per_s')} | "
            f"{data.get('vs_local', 1.0)}× | {', '.join(map(str, data.get('load_average_before') or [])) or '–'} |"
        )
    lines.append("")
    for name, check in result.get("equivalence", {}).items():
        lines.append(
            f"- {name} against local: {check.get('points')} points, same ids: {check.get('same_ids')}, payload "
            f"differences: {check.get('payload_differences')}, sparse differences: {check.get('sparse_differences')}, "
            f"largest dense difference {check.get('max_dense_abs_difference'):.2e}."
        )
    rerun = result.get("rerun", {})
    lines.append(f"- Rerun on Ray: {rerun.get('written')} points written, {rerun.get('deleted')} deleted, "
                 f"{rerun.get('unchanged')} documents unchanged ({rerun.get('seconds')} s).")
    lines.append(f"- Encoder alone on the same chunks: {rates.get('encoder_chunks_per_s')} chunks/s; embedded "
                 f"store upserts: {rates.get('embedded_upsert_points_per_s')} points/s; starting Ray: "
                 f"{result.get('ray_init_s')} s (not in the timings).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None, help="only the first N records")
    parser.add_argument("--embed-backend", default="torch", choices=("torch", "onnx", "onnx-int8", "auto"),
                        help="torch (default) and onnx make a chunk's vector independent of the batch it is "
                        "encoded in, so the engines can be compared within float tolerance; onnx-int8 (what "
                        "auto picks on a CPU) quantizes activations per batch, so its vectors move with batching")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"the Ray arrangements to run, comma-separated, from {', '.join(CONFIGS)} (the whole "
                        "SciFact corpus takes about 15 minutes per engine on 2 cores)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    corpus = Path(args.corpus)
    if not corpus.is_file():
        parser.error(f"{corpus}: no such corpus (a BEIR corpus.jsonl; SciFact is in ../shared/datasets)")
    configs = tuple(name.strip() for name in args.configs.split(",") if name.strip())
    unknown = [name for name in configs if name not in CONFIGS]
    if unknown or not configs:
        parser.error(f"--configs: {', '.join(unknown) or 'none given'}; choose from {', '.join(CONFIGS)}")
    result = run(corpus, args.limit, args.embed_backend, configs)
    result["command"] = " ".join([".venv/bin/python", "bench/ray_ingest.py", *(sys.argv[1:] if argv is None else argv)])
    emit(result, render_markdown, args.out, args.markdown)


if __name__ == "__main__":
    main()
