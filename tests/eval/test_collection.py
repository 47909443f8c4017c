"""The collection an evaluation asks over: an interrupted indexing converges before anything is
measured, a user's ``--collection`` that lacks documents is a loud warning, and questions that name
their documents by ``source_doc_ids`` are judged against a collection holding those documents."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eval.cli import register
from eval.corpus import collection_name
from eval.loaders import load_dataset
from eval.runner import EvalRun, RunOptions
from ingest.job import IngestJob, IngestOptions
from rag.settings import Settings
from rag.store import open_store
from tests.eval.fixtures import DOCS, QUESTIONS, corpus_records, write_beir, write_jsonl, write_verirag
from tests.ingest.helpers import snapshot

REPO = Path(__file__).resolve().parents[2]


def run(settings, embedder, **options):
    return EvalRun(settings, embedder).run(RunOptions(progress=False, **options))


def ingest(settings, embedder, corpus: Path, collection: str) -> None:
    report = IngestJob(settings, embedder).run(IngestOptions(paths=[str(corpus)], collection=collection, progress=False))
    assert not report.failures


def quality(results: dict) -> dict:
    """The metrics a collection decides: everything but the latencies (which differ run to run)."""
    return {name: value for name, value in results["metrics"].items() if not name.startswith("operations.")}


def documents_in(settings, collection) -> int:
    with open_store(settings, collection) as store:
        return store.info().documents


def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: Typer keeps "eval" as a sub-command
    return app


def invoke(args: list[str]):
    """The CLI in-process; stdout and stderr apart (click ≥ 8.2 keeps both; older needs mix_stderr)."""
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(cli_app(), args)


# -- an indexing killed half-way ---------------------------------------------------------------------

SYLLABLES = ["ka", "lo", "mi", "ver", "tan", "zu", "pel", "rix", "dor", "fen", "quo", "bas"]
RIVERS = ["Amber", "Birch", "Cinder", "Dune", "Ember", "Frost", "Garnet", "Heron"]
KILL_DOCS = 48
KILL_QUERIES = (0, 3, 9, 16, 22, 29, 35, 41, 44, 47)  # spread over the corpus: most are past the kill


def station(i: int) -> str:
    return (SYLLABLES[i % 12] + SYLLABLES[(i // 12 + 5) % 12] + SYLLABLES[(i * 5 + 1) % 12]).capitalize()


def write_kill_set(folder: Path) -> Path:
    """A BEIR folder: 48 one-chunk documents about pumping stations with made-up names, and ten
    queries that each name one station (its document is the relevant one)."""
    names = [station(i) for i in range(KILL_DOCS)]
    assert len(set(names)) == KILL_DOCS
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": f"s{i:02d}", "title": f"{name} station",
         "text": f"The {name} pumping station lifts {100 + 37 * i} litres per second from the {RIVERS[i % 8]} river. "
                 f"Its {['diesel', 'electric', 'steam', 'hydraulic'][i % 4]} pumps were overhauled in {1950 + i}."}
        for i, name in enumerate(names)
    ])
    write_jsonl(folder / "queries.jsonl", [
        {"_id": f"q{i:02d}", "text": f"How many litres per second does the {names[i]} station pump?"} for i in KILL_QUERIES
    ])
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i:02d}\ts{i:02d}\t1\n" for i in KILL_QUERIES), encoding="utf-8"
    )
    return folder


# The real command line (`verirag eval run`), with one addition: after each batch the ingestion job
# has written, a line on stderr, so the test can SIGKILL the process while it is indexing — after
# some documents are stored and long before all are.
KILLED_DRIVER = textwrap.dedent("""
    import sys
    import ingest.job
    from cli.app import main

    flush = ingest.job.IngestJob._flush

    def reporting_flush(self, store, documents, *args, **kwargs):
        flush(self, store, documents, *args, **kwargs)
        if documents:
            sys.stderr.write(f"TEST-FLUSHED {len(documents)}\\n")
            sys.stderr.flush()

    ingest.job.IngestJob._flush = reporting_flush
    sys.argv = ["verirag", *sys.argv[1:]]
    main()
""")


def eval_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
    env.update(VERIRAG_DATA_DIR=str(data_dir), VERIRAG_CONFIG=str(data_dir / "none.toml"),
               VERIRAG_INGEST_BATCH_CHUNKS="4", PYTHONPATH=str(REPO))
    return env


def run_and_kill_while_indexing(dataset: Path, data_dir: Path) -> None:
    command = [sys.executable, "-c", KILLED_DRIVER, "eval", "run", "--dataset", str(dataset), "--retrieval-only",
               "--no-progress"]
    process = subprocess.Popen(command, env=eval_env(data_dir), cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 600
    try:
        for line in process.stderr:
            seen.append(line)
            if line.startswith("TEST-FLUSHED"):
                break
            assert time.monotonic() < deadline, "the evaluation never started indexing"
        finished_before_kill = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert any(line.startswith("TEST-FLUSHED") for line in seen), "".join(seen[-30:])
    assert not finished_before_kill, "the evaluation finished before the kill"
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_an_evaluation_killed_while_indexing_measures_the_same_as_an_uninterrupted_one(tmp_path, embedder):
    """The issue's case: `eval run --retrieval-only` on a BEIR folder SIGKILLed while it indexes, then run
    again. The collection must end as an uninterrupted run leaves it (same points) and the metrics equal.

    Rankings are compared by the relevant documents' ranks and by what they contain, not position by
    position down to the 48th document: the int8 ONNX embedder quantizes activations per batch, so a
    document embedded in another batch (the kill splits the batches) gets a vector a little different
    (up to 0.02 per component here), which reorders near-ties in the tail."""
    dataset = write_kill_set(tmp_path / "stations")
    name = collection_name(load_dataset(dataset))
    killed = Settings(data_dir=tmp_path / "killed")

    run_and_kill_while_indexing(dataset, killed.data_dir)
    written = documents_in(killed, name)
    assert 0 < written < KILL_DOCS, f"{written} documents written before the kill"

    # What the run before this fix did: ask over the half-indexed collection as it is. It scores worse
    # (most queries' documents are absent) — and now says so loudly.
    half = Settings(data_dir=tmp_path / "half")
    shutil.copytree(killed.data_dir, half.data_dir)
    poisoned = run(half, embedder, dataset=dataset, retrieval_only=True, collection=name)
    assert any(f"is missing {KILL_DOCS - written} of the {KILL_DOCS} documents" in w for w in poisoned.warnings)

    # The same command again: indexing is finished first, then the questions are asked.
    resumed = run(killed, embedder, dataset=dataset, retrieval_only=True)
    assert documents_in(killed, name) == KILL_DOCS
    assert resumed.evaluated == len(KILL_QUERIES) and resumed.warnings == []
    assert resumed.results["run"]["warnings"] == []

    fresh = Settings(data_dir=tmp_path / "fresh")
    uninterrupted = run(fresh, embedder, dataset=dataset, retrieval_only=True)
    assert uninterrupted.results["run"]["collection"] == resumed.results["run"]["collection"] == name

    assert snapshot(killed, name) == snapshot(fresh, name)  # the same points: doc, chunk, hashes
    assert quality(resumed.results) == quality(uninterrupted.results)
    assert resumed.results["metrics"]["retrieval.recall@100"] == 1.0
    assert poisoned.results["metrics"]["retrieval.ndcg@10"] < uninterrupted.results["metrics"]["retrieval.ndcg@10"]
    for a, b in zip(resumed.results["items"], uninterrupted.results["items"], strict=True):
        assert a["key"] == b["key"] and a["retrieval"] == b["retrieval"]
        assert [a["ranking"].index(doc) for doc in a["relevant"]] == [b["ranking"].index(doc) for doc in b["relevant"]]
        assert set(a["ranking"]) == set(b["ranking"]) and len(a["ranking"]) == KILL_DOCS  # every document, in both


# -- a collection eval indexes always converges --------------------------------------------------------


def test_a_reused_eval_collection_is_completed_and_stale_items_are_evaluated_again(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data")
    dataset = write_beir(tmp_path / "beir")
    first = run(settings, embedder, dataset=dataset, out=tmp_path / "out")
    name = first.results["run"]["collection"]
    assert first.evaluated == 3 and documents_in(settings, name) == 4

    # A document gone from the collection (a kill before it was written, a stray delete): the next run
    # writes it back, and the three answers evaluated without it are evaluated again.
    with open_store(settings, name) as store:
        assert store.delete_document("d3") > 0
    second = run(settings, embedder, dataset=dataset, out=tmp_path / "out")
    assert documents_in(settings, name) == 4
    assert second.evaluated == 3 and second.reused == 0
    assert any("changed since 3 finished questions were evaluated" in note for note in second.notes)
    assert quality(second.results) == quality(first.results) and second.warnings == []
    lines = (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # the stale records are gone from the log, not only shadowed

    # Nothing missing: the job writes nothing and the items are reused.
    third = run(settings, embedder, dataset=dataset, out=tmp_path / "out")
    assert third.evaluated == 0 and third.reused == 3 and third.results["metrics"] == second.results["metrics"]


def test_a_collection_named_by_the_user_and_created_by_eval_keeps_being_indexed(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data")
    dataset = write_beir(tmp_path / "beir")
    first = run(settings, embedder, dataset=dataset, collection="mine", out=tmp_path / "out")
    assert documents_in(settings, "mine") == 4 and first.warnings == []
    with open_store(settings, "mine") as store:
        store.delete_document("d1")
    # eval created "mine" for this corpus: it is completed as the hashed collection would be.
    second = run(settings, embedder, dataset=dataset, collection="mine", out=tmp_path / "out")
    assert documents_in(settings, "mine") == 4 and second.warnings == [] and second.evaluated == 3


# -- a user's collection that lacks documents ---------------------------------------------------------


def test_a_user_collection_missing_corpus_documents_is_a_loud_warning(tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("eval.runner.embedder_for", lambda settings: embedder)  # the session's model, loaded once
    settings = Settings(data_dir=tmp_path / "data")
    dataset = write_beir(tmp_path / "beir")
    write_jsonl(tmp_path / "half" / "corpus.jsonl", corpus_records()[:2])  # d1, d2 of d1…d4
    ingest(settings, embedder, tmp_path / "half" / "corpus.jsonl", "partial")

    result = invoke(["eval", "run", "--dataset", str(dataset), "--collection", "partial", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    stderr = result.stderr
    assert "WARNING: collection 'partial' is missing 2 of the 4 documents of the data set's corpus" in stderr
    assert "'d3', 'd4'" in stderr and "1 WARNING(S)" in result.stdout
    assert documents_in(settings, "partial") == 2  # a user's collection is never written to

    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert len(results["run"]["warnings"]) == 1 and "missing 2 of the 4" in results["run"]["warnings"][0]
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## ⚠ Warnings (1)" in markdown and "**WARNING:** collection 'partial' is missing 2 of the 4" in markdown
    assert 'id="warnings"' in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")

    # Complete, it is used as it is, without a warning.
    write_jsonl(tmp_path / "all" / "corpus.jsonl", corpus_records())  # BEIR's "_id" records, as ingest reads them
    ingest(settings, embedder, tmp_path / "all" / "corpus.jsonl", "complete")
    full = run(settings, embedder, dataset=dataset, collection="complete", out=tmp_path / "out-full")
    assert full.warnings == [] and full.results["run"]["warnings"] == []
    assert any("holds all 4 documents" in note for note in full.notes)


# -- source_doc_ids without a corpus --------------------------------------------------------------------


def drop_reference_contexts(folder: Path) -> Path:
    qa = folder / "qa.jsonl"
    records = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines()]
    write_jsonl(qa, [{k: v for k, v in record.items() if k != "reference_contexts"} for record in records])
    return folder


@pytest.mark.parametrize("contexts", [False, True], ids=["no-contexts", "with-contexts"])
def test_source_doc_ids_are_judged_against_a_user_collection_that_holds_them(tmp_path, embedder, contexts):
    settings = Settings(data_dir=tmp_path / "data")
    dataset = write_verirag(tmp_path / "set", corpus=False, halu=False)
    if not contexts:
        drop_reference_contexts(dataset)
    write_jsonl(tmp_path / "docs" / "corpus.jsonl", corpus_records())
    ingest(settings, embedder, tmp_path / "docs" / "corpus.jsonl", "plant")

    outcome = run(settings, embedder, dataset=dataset, collection="plant", retrieval_only=True, out=tmp_path / "out")
    results = outcome.results
    assert outcome.warnings == [] and results["run"]["relevance"] == "doc_ids"
    items = {item["id"]: item for item in results["items"]}
    for qid, _, _, doc, _ in QUESTIONS:
        assert items[qid]["relevant"] == {doc: 1}
        assert doc in items[qid]["ranking"] and "retrieval" in items[qid]
    assert results["metrics"]["retrieval.recall@100"] == 1.0 and results["metrics"]["retrieval.ndcg@10"] > 0
    if contexts:  # the collection holds the documents, not the contexts: why the ids changed is noted
        assert any("judged by the questions' own document ids" in note for note in outcome.notes)
    assert documents_in(settings, "plant") == len(DOCS)  # nothing indexed into the user's collection

    # A run folder from before (its items evaluated with "relevant": {}) is resumed and scored by today's rule.
    log = tmp_path / "out" / "items.jsonl"
    log.write_text("".join(json.dumps({**json.loads(line), "relevant": {}}) + "\n"
                           for line in log.read_text(encoding="utf-8").splitlines()), encoding="utf-8")
    again = run(settings, embedder, dataset=dataset, collection="plant", retrieval_only=True, out=tmp_path / "out")
    assert again.reused == len(QUESTIONS) and quality(again.results) == quality(results)


def test_source_doc_ids_missing_from_the_user_collection_are_a_loud_warning(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data")
    dataset = drop_reference_contexts(write_verirag(tmp_path / "set", corpus=False, halu=False))
    write_jsonl(tmp_path / "docs" / "corpus.jsonl", corpus_records()[:1])  # d1 only
    ingest(settings, embedder, tmp_path / "docs" / "corpus.jsonl", "plant")

    outcome = run(settings, embedder, dataset=dataset, collection="plant", retrieval_only=True, out=tmp_path / "out")
    [warning] = outcome.warnings
    assert "collection 'plant' is missing 2 of the 3 documents the questions name as relevant" in warning
    assert outcome.results["run"]["warnings"] == [warning]
    assert outcome.results["metrics"]["retrieval.recall@100"] == pytest.approx(1 / 4)  # q1 of q1…q4 (q4 names d2)


def test_questions_that_name_no_document_say_loudly_that_retrieval_is_not_scored(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data")
    folder = tmp_path / "set"
    write_jsonl(folder / "qa.jsonl", [{"id": qid, "question": question, "reference_answer": reference}
                                      for qid, question, reference, _, _ in QUESTIONS])
    write_jsonl(tmp_path / "docs" / "corpus.jsonl", corpus_records())
    ingest(settings, embedder, tmp_path / "docs" / "corpus.jsonl", "plant")

    outcome = run(settings, embedder, dataset=folder, collection="plant", retrieval_only=True, out=tmp_path / "out")
    [warning] = outcome.warnings
    assert warning.startswith("retrieval is not scored") and "source_doc_ids" in warning
    assert not any(name.startswith("retrieval.") for name in outcome.results["metrics"])
    assert "**WARNING:** retrieval is not scored" in (outcome.folder / "report.md").read_text(encoding="utf-8")
