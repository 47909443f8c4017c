"""/v1/retrieve over HTTP against the same retrieval called in-process, at 1 and 8 concurrent clients.

The sample documents (``samples/``) are ingested into a temporary data directory. Then, in this
order and in one run:

  in-process  the retrieval the server runs for /v1/retrieve — ``pipeline.retrieve(AnswerRequest)``
              on the collection, with the API's batching query embedder — called from 1 and from 8
              threads of this process; also the library's plain embedder at 8 threads, to show what
              batching concurrent questions buys
  HTTP        ``verirag serve`` in a subprocess on a free loopback port (real uvicorn, rate limit off),
              and 1 and 8 client threads, each with its own keep-alive ``httpx.Client``, POSTing
              /v1/retrieve

Every configuration answers the same questions (40 distinct ones about the samples, cycled). It
reports requests/s, p50/p95 latency per request, errors (any status other than 200) and the HTTP
overhead: HTTP throughput over in-process throughput at the same concurrency, and the CPU time
each request cost (this process for in-process rows; the server and the client process for HTTP
rows) — unlike requests/s, CPU time per request hardly depends on what else the machine runs. The
clients share the machine with the server (2 cores here), as every loopback benchmark does: read
the ratio and the CPU times more than the absolute rates. Goal: ≥ 100 requests/s at 8 concurrent
clients, 0 errors.

    .venv/bin/python bench/api_throughput.py                                   # ≈ 1–2 min
    .venv/bin/python bench/api_throughput.py --requests 800 --out bench/results/api_throughput.json
    .venv/bin/python bench/api_throughput.py --render bench/results/api_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit  # noqa: E402  (needs the repository root on sys.path)

SAMPLES = ROOT / "samples"
COLLECTION = "samples"
GOAL_RPS = 100.0
QUESTIONS = [
    "At what speed does Unit 3 trip on overspeed?", "At what speed do Units 1 and 2 trip?",
    "How much is the on-call allowance on a Saturday?", "What is the call-out pay per hour?",
    "When was the guide bearing of Unit 2 replaced?", "Which work order replaced the guide bearing?",
    "What did HydroView 3.2.1 change about alarm debounce?", "What is the default alarm debounce now?",
    "How long before a spillway gate moves does the siren sound?", "What is the warranty on the RL-50?",
    "What is the warranty on the RL-50's control electronics?", "How loud is the RL-50 microturbine?",
    "What is the service interval of the Riverline RL-50?", "What site range does the RL-50 cover?",
    "Who is escalated to after 15 minutes?", "What happens after 30 minutes without acknowledgement?",
    "What are the severity levels of HydroView alarms?", "How often does the on-call rotation change?",
    "What are the lockout/tagout steps?", "What PPE is required near water?",
    "How is a confined space entered safely?", "How soon must an incident be reported?",
    "How long is an isolation certificate valid?", "What firmware does HydroView 3.3 require?",
    "Which unit is a Kaplan turbine?", "Which units are Francis turbines?",
    "What was fixed in HydroView 3.3.1?", "What did release 3.2.0 add?",
    "What is the maximum number of on-call shifts per month?", "How much rest is required after a call-out?",
    "What maintenance was done on Unit 1 in March 2024?", "Which unit had a cooling water leak?",
    "What does the runbook say about SCADA communication loss?", "Who approves rota swaps?",
    "What is the output of the RL-50?", "Does the RL-50 need a fish screen?",
    "What should the on-call engineer do for a severity 1 alarm?", "Where is the emergency assembly point?",
    "How are lifejackets inspected?", "What is the rate for a public holiday on call?",
]  # fmt: skip


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- measuring --------------------------------------------------------------------------------------
def cpu_seconds(pid: int | None = None) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def measure(call: Callable[[str], bool], requests: int, concurrency: int, cpu: dict[str, Callable[[], float]]) -> dict:
    """``requests`` calls spread over ``concurrency`` threads; each call returns whether it succeeded.

    ``cpu`` names processes and how to read their CPU seconds: CPU time per request does not depend
    on what else the machine runs, unlike requests/s (see ``cpu_ms_per_request``)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(index: int) -> None:
        nonlocal errors
        for n in range(index, requests, concurrency):
            started = time.perf_counter()
            ok = call(QUESTIONS[n % len(QUESTIONS)])
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1

    cpu_before = {name: read() for name, read in cpu.items()}
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    wall = time.perf_counter() - started
    cpu_ms = {name: round((read() - cpu_before[name]) * 1000 / requests, 2) for name, read in cpu.items()}
    ordered = sorted(latencies)
    return {
        "requests": requests, "concurrency": concurrency, "errors": errors, "seconds": round(wall, 3),
        "cpu_ms_per_request": cpu_ms,
        "requests_per_s": round(requests / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2),
    }  # fmt: skip


# -- the collection and the in-process runs -------------------------------------------------------------
def ingest_samples(data_dir: Path, embedder) -> dict:
    from ingest.job import IngestJob, IngestOptions
    from rag.settings import Settings

    docs = data_dir.parent / "docs"
    shutil.copytree(SAMPLES, docs, ignore=shutil.ignore_patterns("README.md", "*.py"))
    report = IngestJob(Settings(data_dir=data_dir), embedder).run(
        IngestOptions(paths=[str(docs)], collection=COLLECTION, progress=False)
    )
    if report.failures:
        raise SystemExit(f"ingesting the samples failed: {report.failures}")
    return {"documents": report.files.new, "chunks": report.chunks.written}


def in_process(data_dir: Path, embedder, requests: int, warmup: int) -> dict:
    from api.batching import BatchingQueryEmbedder
    from rag.pipeline import AnswerRequest, pipeline_for
    from rag.settings import Settings
    from rag.store import open_store

    settings = Settings(data_dir=data_dir, default_collection=COLLECTION, verify_judge="off")
    results = {}
    with open_store(settings, COLLECTION) as store:
        batching = BatchingQueryEmbedder(embedder)
        for label, chosen in (("batching", batching), ("library", embedder)):
            pipeline = pipeline_for(settings, store, chosen)

            def call(question: str) -> bool:
                return bool(pipeline.retrieve(AnswerRequest(question)))

            for question in QUESTIONS[:warmup]:
                call(question)
            levels = (1, 8) if label == "batching" else (8,)
            for concurrency in levels:
                log(f"in-process ({label} embedder), {concurrency} threads …")
                results[f"{label}_c{concurrency}"] = measure(call, requests, concurrency, {"process": cpu_seconds})
        log("in-process, the API's pipeline hooks on and off, alternating …")
        results["hooks"] = hook_cost(settings, store, batching, requests)
        batching.close()
    return results


def hook_cost(settings, store, embedder, requests: int, block: int = 25) -> dict:
    """What the pipeline hooks cost a retrieval: the pipeline the API builds (OpenTelemetry spans where
    the API is installed, public sources, stage deadlines) against the same pipeline with no hook, one
    thread, alternating blocks of ``block`` questions so that drift in the machine's load hits both."""
    from api.public_sources import PublicSources
    from api.stages import StageDeadlines
    from rag.pipeline import AnswerRequest, pipeline_for

    hooked = pipeline_for(settings, store, embedder, hooks=[PublicSources(), StageDeadlines()])
    bare = pipeline_for(settings, store, embedder)
    bare.hooks = []
    seconds: dict[str, list[float]] = {"hooks": [], "no_hooks": []}
    for start in range(0, requests, block):
        order = (("hooks", hooked), ("no_hooks", bare)) if start // block % 2 == 0 else (("no_hooks", bare), ("hooks", hooked))
        for name, pipeline in order:
            for n in range(start, min(start + block, requests)):
                started = time.perf_counter()
                pipeline.retrieve(AnswerRequest(QUESTIONS[n % len(QUESTIONS)]))
                seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) * 1000 for name, values in seconds.items()}
    return {
        "hooks": [type(hook).__name__ for hook in hooked.hooks],
        "requests_each": requests,
        "p50_ms": {name: round(ms, 3) for name, ms in medians.items()},
        "total_s": {name: round(sum(values), 3) for name, values in seconds.items()},
        "hooks_over_no_hooks": round(sum(seconds["hooks"]) / sum(seconds["no_hooks"]), 3),
    }


# -- the HTTP runs --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "VERIRAG_DATA_DIR": str(data_dir),
        "VERIRAG_DEFAULT_COLLECTION": COLLECTION,
        "VERIRAG_CONFIG": str(data_dir / "no-verirag.toml"),
        "VERIRAG_API_RATE_LIMIT_PER_MINUTE": "0",
        "VERIRAG_API_OPEN": "true",  # no keys here: serve loopback without them
    }
    command = [sys.executable, "-c", "import sys; from cli.app import main; sys.argv[0] = 'verirag'; main()",
               "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}): {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {url} did not come up within {timeout_s:.0f}s")


def over_http(data_dir: Path, requests: int, warmup: int) -> dict:
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(data_dir, port)
    try:
        wait_until_up(url, server)
        local = threading.local()

        def call(question: str) -> bool:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=url, timeout=60)
            response = client.post("/v1/retrieve", json={"question": question, "collection": COLLECTION})
            return response.status_code == 200 and bool(response.json()["passages"])

        for question in QUESTIONS[:warmup]:
            if not call(question):
                raise SystemExit("the warm-up request failed")
        results = {}
        for concurrency in (1, 8):
            log(f"HTTP, {concurrency} clients …")
            results[f"c{concurrency}"] = measure(call, requests, concurrency, {
                "server": lambda: cpu_seconds(server.pid), "clients": cpu_seconds,
            })  # fmt: skip
        return results
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


# -- the run --------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    from bench.common import machine_info, model_label
    from rag.embedding import load_dense_embedder

    machine = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="verirag-api-bench-"))
    try:
        data_dir = workdir / "data"
        embedder = load_dense_embedder(None, "cpu", 64)
        log("ingesting the samples …")
        collection = ingest_samples(data_dir, embedder)
        local = in_process(data_dir, embedder, args.requests, args.warmup)
        http = over_http(data_dir, args.requests, args.warmup)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    overhead = {
        f"c{c}": round(http[f"c{c}"]["requests_per_s"] / local[f"batching_c{c}"]["requests_per_s"], 3)
        for c in (1, 8)
    }
    errors = sum(r["errors"] for r in http.values())
    return {
        "benchmark": "api_throughput",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine,
        "model": model_label(embedder.model_path),
        "collection": collection,
        "questions": len(QUESTIONS),
        "requests_per_configuration": args.requests,
        "in_process": local,
        "http": http,
        "http_over_in_process_throughput": overhead,
        "batching_gain_at_c8": round(local["batching_c8"]["requests_per_s"] / local["library_c8"]["requests_per_s"], 2),
        "goal": {"requests_per_s_at_c8": GOAL_RPS, "errors": 0,
                 "met": http["c8"]["requests_per_s"] >= GOAL_RPS and errors == 0},
    }


def render_markdown(result: dict, heading_level: int = 2) -> str:
    h = "#" * heading_level
    local, http = result["in_process"], result["http"]
    rows = [
        ("in-process, library embedder", local["library_c8"]),
        ("in-process, API's batching embedder", local["batching_c1"]),
        ("in-process, API's batching embedder", local["batching_c8"]),
        ("HTTP `POST /v1/retrieve` (uvicorn, loopback)", http["c1"]),
        ("HTTP `POST /v1/retrieve` (uvicorn, loopback)", http["c8"]),
    ]
    machine = result["machine"]
    lines = [
        f"{h} API throughput: `/v1/retrieve` over HTTP vs in-process ({result['date']})", "",
        f"{result['collection']['documents']} sample documents, {result['collection']['chunks']} chunks; "
        f"{result['requests_per_configuration']} requests per row over {result['questions']} distinct questions; "
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), clients and server on the same machine.", "",
        "| configuration | concurrency | requests/s | p50 ms | p95 ms | errors | CPU ms / request |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for label, row in rows:
        cpu = ", ".join(f"{name} {ms}" for name, ms in row["cpu_ms_per_request"].items())
        lines.append(f"| {label} | {row['concurrency']} | {row['requests_per_s']} | {row['p50_ms']} | "
                     f"{row['p95_ms']} | {row['errors']} | {cpu} |")
    overhead = result["http_over_in_process_throughput"]
    goal = result["goal"]
    lines += [
        "",
        f"HTTP throughput / in-process throughput (same retrieval, same embedder): {overhead['c1']} at 1 client, "
        f"{overhead['c8']} at 8. Batching concurrent questions into one embedding call: "
        f"{result['batching_gain_at_c8']}× the library embedder at 8 threads.",
        f"Goal ≥ {goal['requests_per_s_at_c8']:g} requests/s at 8 clients with 0 errors: "
        f"{'met' if goal['met'] else 'NOT met'} (load average at start: {machine['load_average_at_start']}).",
        "",
    ]  # fmt: skip
    hooks = local.get("hooks")
    if hooks:  # results from before the pipeline had hooks have no such row
        lines += [
            f"Pipeline hooks ({', '.join(hooks['hooks'])}) against none, the same retrievals in alternating "
            f"blocks on one thread, {hooks['requests_each']} each: p50 {hooks['p50_ms']['hooks']} ms against "
            f"{hooks['p50_ms']['no_hooks']} ms; total time ratio **{hooks['hooks_over_no_hooks']}×**.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=400, help="timed requests per configuration")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests before timing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "api_throughput.json",
                        help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, default=ROOT / "bench" / "results" / "api_throughput.md",
                        help="also write the markdown section here")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="print the markdown section for a saved result and exit")
    args = parser.parse_args(argv)
    if args.render is not None:
        print(render_markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    if args.requests < 8 or args.warmup < 0:
        parser.error("--requests must be at least 8 and --warmup at least 0")
    emit(run(args), render_markdown, args.out, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
