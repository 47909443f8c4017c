"""Store size per chunk: how many chunks one GB of embedded Qdrant store holds, for sizing a deployment.

Ingests the first N records of a BEIR corpus (SciFact by default) into a fresh embedded collection, twice
(a smaller and a larger prefix), and measures the collection's folder on disk (``du``: blocks allocated,
and the files' apparent size). A store has a fixed part (the write-ahead log is preallocated, segments
start with reserved space), so the marginal cost per chunk is the slope between the two sizes, and the
chunks per GB figure is taken from that slope; the totals are shown beside it.

    .venv/bin/python bench/store_size.py --small 1000 --large 5183 --out bench/results/store-size.json \\
        --markdown bench/results/store-size.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, machine_info, project_relative
from bench.ingest_throughput import DEFAULT_CORPUS, prepare_corpus

GB = 1_000_000_000


def disk_usage(folder: Path) -> tuple[int, int]:
    """(bytes allocated on disk, apparent bytes) of everything under ``folder``, as ``du`` counts them."""
    allocated = int(subprocess.run(["du", "-s", "-B1", str(folder)], capture_output=True, text=True,
                                   check=True).stdout.split()[0])
    apparent = int(subprocess.run(["du", "-s", "-B1", "--apparent-size", str(folder)], capture_output=True,
                                  text=True, check=True).stdout.split()[0])
    return allocated, apparent


def measure(corpus: Path, limit: int, workdir: Path) -> dict:
    from ingest.job import IngestJob, IngestOptions
    from rag.settings import Settings
    from rag.store.factory import open_store

    folder = workdir / f"n{limit}"
    folder.mkdir()
    corpus_path, records = prepare_corpus(corpus, limit, folder)
    settings = Settings(data_dir=folder / "data")
    started = time.perf_counter()
    report = IngestJob(settings).run(IngestOptions(paths=[str(corpus_path)], collection="size", progress=False))
    seconds = time.perf_counter() - started
    with open_store(settings, "size") as store:
        points = store.count()
    allocated, apparent = disk_usage(settings.collections_dir / "size")
    return {"records": len(records), "points": points, "chunks_written": report.chunks.written,
            "failures": len(report.failures), "ingest_seconds": round(seconds, 1),
            "bytes_allocated": allocated, "bytes_apparent": apparent,
            "corpus_bytes": corpus_path.stat().st_size}


def run(args: argparse.Namespace) -> dict:
    corpus = Path(args.corpus).expanduser().resolve()
    if not corpus.is_file():
        raise SystemExit(f"no corpus at {corpus}: pass --corpus PATH to a BEIR corpus.jsonl")
    with tempfile.TemporaryDirectory(prefix="verirag-store-size-") as tmp:
        small = measure(corpus, args.small, Path(tmp))
        large = measure(corpus, args.large, Path(tmp))
    result = {"corpus": project_relative(corpus), "small": small, "large": large, "machine": machine_info()}
    for kind in ("allocated", "apparent"):
        slope = (large[f"bytes_{kind}"] - small[f"bytes_{kind}"]) / (large["points"] - small["points"])
        result[f"marginal_bytes_per_chunk_{kind}"] = round(slope, 1)
        result[f"chunks_per_gb_{kind}"] = round(GB / slope)
        result[f"fixed_bytes_{kind}"] = round(small[f"bytes_{kind}"] - slope * small["points"])
    return result


def render_markdown(result: dict) -> str:
    rows = ["| records | chunks (points) | on disk (du) | apparent | ingest s |", "|---:|---:|---:|---:|---:|"]
    for key in ("small", "large"):
        run_ = result[key]
        rows.append(f"| {run_['records']:,} | {run_['points']:,} | {run_['bytes_allocated'] / 1e6:,.1f} MB | "
                    f"{run_['bytes_apparent'] / 1e6:,.1f} MB | {run_['ingest_seconds']} |")
    return "\n".join([
        f"### Store size: {result['corpus']}",
        "",
        *rows,
        "",
        (f"Marginal cost per chunk (slope between the two runs): {result['marginal_bytes_per_chunk_allocated']:,.0f} "
         f"bytes on disk ({result['marginal_bytes_per_chunk_apparent']:,.0f} apparent) → "
         f"**{result['chunks_per_gb_allocated']:,} chunks per GB** of store; fixed part of one collection ≈ "
         f"{result['fixed_bytes_allocated'] / 1e6:,.1f} MB on disk."),
        "",
        ("The apparent size is mostly preallocated space in sparse files (the write-ahead log, mapped segment "
         "files): it takes no disk until written, but a copy that does not keep holes (some backup tools) "
         "allocates it. Collections this small have no HNSW graph yet (Qdrant builds it past its indexing "
         "threshold); the graph adds a few hundred bytes per point."),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="BEIR corpus.jsonl (id, title, text)")
    parser.add_argument("--small", type=int, default=1000, help="records in the smaller run")
    parser.add_argument("--large", type=int, default=5183, help="records in the larger run")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args(argv)
    if args.large <= args.small:
        parser.error("--large must be more records than --small")
    emit(run(args), render_markdown, args.out, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
