"""Multi-hop evaluation: supporting facts split out of glued reference contexts, one corpus of facts,
and ``all_recalled@k`` (every fact of a question in its top k), through ``verirag eval run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eval.cli import register
from eval.dataset import DatasetError
from eval.loaders import load_dataset
from eval.loaders.multihop import fact_doc_id, split_facts
from eval.retrieval_metrics import all_recalled

GLUED = ("Arthur's Magazine (1844–1846) was an American literary periodical published in Philadelphia in the "
         "19th century.First for Women is a woman's magazine published by Bauer Media Group in the USA.")


@pytest.mark.parametrize("context, facts", [
    (GLUED, [("Arthur's Magazine (1844–1846) was an American literary periodical published in Philadelphia in the "
              "19th century."), "First for Women is a woman's magazine published by Bauer Media Group in the USA."]),
    # Abbreviations and decimals stay whole; sentences joined with a space are one fact.
    ("KBSO (94.7 FM) broadcasts in Washington, D.C. and Texas. It plays country.RB Leipzig e.V. is a club.",
     ["KBSO (94.7 FM) broadcasts in Washington, D.C. and Texas. It plays country.", "RB Leipzig e.V. is a club."]),
    ("He was born in 1961.\"Heck\" is his nickname.", ["He was born in 1961.", "\"Heck\" is his nickname."]),
    ("One fact only.", ["One fact only."]),
])
def test_glued_facts_are_split_back(context, facts):
    assert split_facts(context) == facts


def write_multihop(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    first_for_women = "First for Women is a woman's magazine published by Bauer Media Group in the USA."
    rows = [
        {"id": "q1", "question": "Which magazine was started first Arthur's Magazine or First for Women?",
         "reference_answer": "Arthur's Magazine", "reference_contexts": [GLUED], "source_doc_ids": ["k1"]},
        {"id": "q2", "question": "Who publishes First for Women?", "reference_answer": "Bauer Media Group",
         "reference_contexts": [first_for_women + "Bauer Media Group is a German media company based in Hamburg."],
         "source_doc_ids": ["k2"]},
        {"id": "q3", "question": "Where is the Oberoi Group's head office?", "reference_answer": "Delhi",
         "reference_contexts": ["The Oberoi Group is a hotel company with its head office in Delhi."],
         "source_doc_ids": ["k3"]},
    ]
    (folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_every_fact_of_every_question_is_one_document_of_one_corpus(tmp_path):
    dataset = load_dataset(write_multihop(tmp_path / "hotpot"), "multihop")
    texts = [r["text"] for r in dataset.corpus.records]
    # q1 and q2 share the First for Women fact: one document, relevant to both.
    assert len(texts) == 4 and len(set(texts)) == 4
    relevant = {q.id: set(q.relevant) for q in dataset.questions}
    shared = fact_doc_id("First for Women is a woman's magazine published by Bauer Media Group in the USA.")
    assert shared in relevant["q1"] and shared in relevant["q2"] and len(relevant["q1"]) == 2
    assert len(relevant["q3"]) == 1
    assert dataset.format == "multihop" and "2 questions have two or more facts" in dataset.notes[0]
    # Without --format the same folder is the verirag format (contexts whole).
    assert load_dataset(tmp_path / "hotpot").format == "verirag"


def test_a_folder_without_questions_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="qa.jsonl"):
        load_dataset(tmp_path / "empty", "multihop")


def test_all_recalled_needs_every_relevant_document_in_the_top_k():
    rankings = {"a": ["x", "f1", "y", "f2"], "b": ["f3"], "c": []}
    qrels = {"a": {"f1": 1, "f2": 1}, "b": {"f3": 1}, "c": {"f4": 1}}
    scores = all_recalled(rankings, qrels, ["all_recalled@2", "all_recalled@4"])
    assert scores == {"a": {"all_recalled@2": 0.0, "all_recalled@4": 1.0},
                      "b": {"all_recalled@2": 1.0, "all_recalled@4": 1.0},
                      "c": {"all_recalled@2": 0.0, "all_recalled@4": 0.0}}


def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: Typer keeps "eval" as a sub-command
    return app


def test_eval_run_reports_all_recalled_on_the_fact_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    dataset = write_multihop(tmp_path / "hotpot")
    out = tmp_path / "out"
    args = ["eval", "run", "--dataset", str(dataset), "--format", "multihop", "--retrieval-only", "--top-k", "5",
            "--out", str(out)]
    result = CliRunner().invoke(cli_app(), args)

    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    metrics = results["metrics"]
    assert {"retrieval.all_recalled@1", "retrieval.all_recalled@5"} <= set(metrics)
    # Four documents, five deep: every fact of every question is among them.
    assert metrics["retrieval.all_recalled@5"] == 1.0
    # At depth 1 a two-fact question can never have both: at most q3 (one fact) counts.
    assert metrics["retrieval.all_recalled@1"] <= 1 / 3
    assert results["run"]["settings"]["multistep"] == "auto"


@pytest.mark.shared_data
def test_halueval_qa_splits_into_a_corpus_of_facts(shared_datasets):
    dataset = load_dataset(shared_datasets / "halueval-qa", "multihop")
    sizes = [len(q.relevant) for q in dataset.questions]
    assert len(sizes) == 5000 and all(sizes)
    # Most HotpotQA questions need two facts; a context whose facts were joined with a space stays one.
    assert sum(size >= 2 for size in sizes) > 0.7 * len(sizes)
    assert len(dataset.corpus.records) > 8000
    assert sum(len(r["text"]) < 30 for r in dataset.corpus.records) < 20  # few fragments from bad splits
