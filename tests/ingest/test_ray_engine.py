"""`verirag ingest --engine ray` on a real local Ray instance (2 CPUs), against the local engine.

The same input through both engines must give exactly the same points (ids, payloads, vectors within
float tolerance) and the same report; a rerun writes nothing; a changed or removed document is handled;
a broken file is reported with its reason while the others go in; a killed encoder process is
restarted by Ray and the run converges to the same points. Real parser, embedder and Qdrant engine.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading

import psutil
import pytest
import ray

from ingest.job import IngestJob, IngestOptions
from ingest.ray_engine import RAY_INSTALL_HINT, RayIngestJob, RayMissingError, RayOptions, RayResourcesError, import_ray
from tests.ingest.helpers import assert_consistent
from tests.ingest.ray_points import assert_same_points, comparable_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ENCODER_PROCESS = "ray::MapWorker(MapBatches(_EmbedBatches))"
WORDS = [
    "valve", "pressure", "sensor", "turbine", "rotor", "blade", "coolant", "pump", "seal", "bearing", "torque",
    "shaft", "flow", "rate", "temperature", "calibration", "tolerance", "inspection", "fatigue", "crack", "alloy",
    "weld", "joint", "vibration", "damping", "signal", "controller", "firmware", "voltage", "current", "load",
    "cycle", "maintenance", "interval", "failure", "mode",
]


@pytest.fixture(scope="module")
def ray_cluster():
    """A real Ray instance with 2 CPUs and a small object store, shut down after the module."""
    ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             logging_level=logging.WARNING, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def settings(settings):
    """Both engines embed with what these settings name (the torch model: no ONNX export into each
    test's data directory), each process loading it through ``rag.embedding.embedder_for``."""
    return settings.model_copy(update={"embed_backend": "torch"})


def _paragraph(rng: random.Random, words: int) -> str:
    sentences = []
    while words > 0:
        length = min(words, rng.randint(8, 16))
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(length)).capitalize() + ".")
        words -= length
    return " ".join(sentences)


def write_corpus(folder, records: int, seed: int = 7) -> None:
    """A corpus.jsonl of generated records (some long enough for several chunks) beside real files:
    Markdown and text that parse, a damaged PDF and an empty file that fail with their reasons."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for number in range(records):
            text = "\n\n".join(_paragraph(rng, rng.randint(30, 160)) for _ in range(rng.randint(1, 4)))
            handle.write(json.dumps({"id": f"r{number}", "title": f"Record {number}", "text": text, "lang": "en"}) + "\n")
    (folder / "manual.md").write_text(
        "# Pump manual\n\n## Seals\n\n" + _paragraph(rng, 220) + "\n\n## Bearings\n\n" + _paragraph(rng, 260) + "\n"
    )
    (folder / "notes.txt").write_text("Field notes.\n\n" + _paragraph(rng, 90) + "\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a PDF body")
    (folder / "empty.txt").write_bytes(b"")


def run_local(settings, collection, *paths, **options):
    options.setdefault("progress", False)
    return IngestJob(settings).run(IngestOptions(paths=[str(p) for p in paths], collection=collection, **options))


def run_ray(settings, collection, *paths, ray_options=None, **options):
    options.setdefault("progress", False)
    job = RayIngestJob(settings, ray_options or RayOptions())
    return job.run(IngestOptions(paths=[str(p) for p in paths], collection=collection, **options))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-corpus") / "docs"
    write_corpus(folder, records=60)
    return folder


def test_same_points_and_report_as_the_local_engine_and_a_rerun_writes_nothing(ray_cluster, settings, corpus):
    local = run_local(settings, "local", corpus)
    first = run_ray(settings, "ray", corpus)

    assert first.files.new == 62 and first.chunks.written > 62  # 60 records + 2 files; some span chunks
    assert comparable_report(first) | {"collection": None} == comparable_report(local) | {"collection": None}
    reasons = {failure.path.rsplit("/", 1)[-1]: failure.error for failure in first.failures}
    assert set(reasons) == {"broken.pdf", "empty.txt"}
    assert "damaged" in reasons["broken.pdf"] and "empty" in reasons["empty.txt"]
    assert assert_same_points(settings, "local", "ray") == first.chunks.written
    assert_consistent(settings, "ray")

    rerun = run_ray(settings, "ray", corpus)
    assert rerun.chunks.written == 0 and rerun.chunks.deleted == 0
    assert rerun.files.unchanged == 62 and rerun.files.new == rerun.files.changed == 0
    assert len(rerun.failures) == 2  # the broken files are still reported, every time


def test_a_changed_and_a_removed_document_converge_to_what_a_fresh_local_run_makes(ray_cluster, settings, corpus, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(corpus, docs)
    run_ray(settings, "ray", docs)
    (docs / "manual.md").write_text("# Pump manual\n\n## Seals\n\nThe seal is replaced every 400 hours.\n")
    (docs / "notes.txt").unlink()

    second = run_ray(settings, "ray", docs, prune=True)

    assert (second.files.new, second.files.changed, second.files.pruned, second.files.unchanged) == (0, 1, 1, 60)
    assert second.chunks.deleted > 0  # the manual's stale chunks and the removed notes' chunks
    assert [document.status for document in second.documents] == ["changed"]
    run_local(settings, "fresh", docs)
    assert_same_points(settings, "fresh", "ray")
    assert_consistent(settings, "ray")


def test_an_encoder_process_killed_mid_run_is_restarted_and_the_run_converges(ray_cluster, settings, tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    write_corpus(docs, records=240, seed=11)
    settings = settings.model_copy(update={"ingest_batch_chunks": 16})  # the driver writes often
    first_write = threading.Event()
    flush = RayIngestJob._flush_outcomes

    def observed_flush(self, store, outcomes, report, progress):
        flush(self, store, outcomes, report, progress)
        first_write.set()

    monkeypatch.setattr(RayIngestJob, "_flush_outcomes", observed_flush)
    killed: list[int] = []
    job = RayIngestJob(settings, RayOptions(batch_documents=8))

    def kill_the_encoder() -> None:
        if not first_write.wait(timeout=300):
            return
        for process in psutil.Process().children(recursive=True):
            try:
                # Ray names its worker processes: "ray::MapWorker(...)", then ".submit" etc. while busy.
                if process.cmdline()[:1] and process.cmdline()[0].startswith(ENCODER_PROCESS):
                    os.kill(process.pid, signal.SIGKILL)
                    killed.append(process.pid)
                    return
            except psutil.Error:
                continue

    killer = threading.Thread(target=kill_the_encoder, daemon=True)
    killer.start()
    report = job.run(IngestOptions(paths=[str(docs)], collection="ray", progress=False))
    killer.join(timeout=5)

    assert killed, "no encoder process was found to kill"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert report.files.new == 242 and len(report.failures) == 2 and not report.interrupted
    local = run_local(settings, "local", docs)
    assert report.chunks.written == local.chunks.written  # every document counted once
    assert_same_points(settings, "local", "ray")
    assert_consistent(settings, "ray")


@pytest.mark.shared_data
def test_scifact_abstracts_make_the_same_points_in_both_engines(ray_cluster, settings, shared_datasets, tmp_path):
    corpus = tmp_path / "scifact" / "corpus.jsonl"
    corpus.parent.mkdir()
    with open(shared_datasets / "scifact" / "corpus.jsonl", encoding="utf-8") as source:
        corpus.write_text("".join(line for _, line in zip(range(150), source)), encoding="utf-8")

    local = run_local(settings, "local", corpus)
    on_ray = run_ray(settings, "ray", corpus)

    assert local.files.new == on_ray.files.new == 150 and not on_ray.failures
    assert assert_same_points(settings, "local", "ray") == local.chunks.written
    assert run_ray(settings, "ray", corpus).chunks.written == 0


def test_encoders_that_would_hold_every_cpu_are_refused_before_anything_is_written(ray_cluster, settings, corpus):
    with pytest.raises(RayResourcesError, match="--actors 2") as raised:
        run_ray(settings, "ray", corpus, ray_options=RayOptions(actors=2))
    assert "--cpus-per-actor" in str(raised.value)


def test_the_cli_joins_a_running_cluster_and_writes_the_same_report(ray_cluster, settings, corpus, tmp_path):
    address = ray.get_runtime_context().gcs_address
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
    env.update(VERIRAG_DATA_DIR=str(settings.data_dir), VERIRAG_CONFIG=str(tmp_path / "none.toml"),
               VERIRAG_EMBED_BACKEND=settings.embed_backend)
    report_file = tmp_path / "report.json"
    command = [sys.executable, "-c", "from cli.app import main; main()", "ingest", str(corpus), "--collection", "cli",
               "--engine", "ray", "--ray-address", address, "--report", str(report_file)]
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=600)

    assert result.returncode == 3, result.stderr[-2000:]  # two files failed, the rest went in
    assert "broken.pdf" in result.stdout
    data = json.loads(report_file.read_text())
    local = run_local(settings, "local", corpus).to_dict()
    for key in ("files", "chunks", "failures", "documents"):
        assert data[key] == local[key], key
    assert_same_points(settings, "local", "cli")


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra sees
    with pytest.raises(RayMissingError) as raised:
        import_ray()
    assert RAY_INSTALL_HINT in str(raised.value) and "pip install 'verirag[ray]'" in str(raised.value)
