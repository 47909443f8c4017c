"""Every format loads into the same shape, the format is detected from the files, and bad input is
refused with the file, line and field named."""

from __future__ import annotations

import json

import pytest

from eval.dataset import DatasetError, context_doc_id
from eval.loaders import detect_format, load_dataset
from tests.eval.fixtures import DOCS, QUESTIONS, write_beir, write_jsonl, write_llamaindex, write_ragas_csv
from tests.eval.fixtures import write_ragas_jsonl, write_verirag


def test_verirag_folder_has_questions_labelled_answers_and_corpus(tmp_path):
    dataset = load_dataset(write_verirag(tmp_path / "set"))

    assert dataset.format == "verirag" and dataset.name == "set"
    assert [q.id for q in dataset.questions] == ["q1", "q2", "q3", "q4"]
    q1, q4 = dataset.questions[0], dataset.questions[3]
    assert q1.reference_answers == ("287.5 rpm",) and q1.relevant == {"d1": 1} and q1.answerable is True
    assert q4.answerable is False and q4.reference_answers == ()
    assert [(a.id, a.unsupported, a.doc_id) for a in dataset.labelled] == [
        ("h1", False, "d1"), ("h2", True, "d2"), ("h3", False, "d3"), ("h4", True, "d4")
    ]
    assert dataset.corpus is not None and dataset.corpus.path == tmp_path / "set" / "corpus.jsonl"
    assert not dataset.retrieval_only


def test_verirag_without_corpus_uses_the_reference_contexts(tmp_path):
    dataset = load_dataset(write_verirag(tmp_path / "set", corpus=False, halu=False))

    assert dataset.corpus is not None and dataset.corpus.path is None
    texts = {record["text"] for record in dataset.corpus.records}
    assert texts == {DOCS[doc][1] for *_, doc, _ in QUESTIONS}
    # Relevant documents are the question's own contexts: source_doc_ids name documents not indexed.
    assert dataset.questions[0].relevant == {context_doc_id(DOCS["d1"][1]): 1}


def test_a_single_halu_file_is_a_verifier_only_set(tmp_path):
    folder = write_verirag(tmp_path / "set", qa=False, corpus=False)
    dataset = load_dataset(folder / "halu.jsonl")
    assert dataset.questions == [] and len(dataset.labelled) == 4 and dataset.corpus is None


def test_beir_folder_is_retrieval_only_and_renames_underscore_ids(tmp_path):
    dataset = load_dataset(write_beir(tmp_path / "beir"))

    assert dataset.format == "beir" and dataset.retrieval_only
    assert [q.id for q in dataset.questions] == ["q1", "q2", "q3"]  # the unjudged query is left out
    assert dataset.questions[1].relevant == {"d2": 1}
    assert [r["id"] for r in dataset.corpus.records] == ["d1", "d2", "d3", "d4"]


@pytest.mark.parametrize("writer", [write_ragas_jsonl, write_ragas_csv], ids=["jsonl", "csv"])
def test_ragas_files_read_question_reference_and_contexts(tmp_path, writer):
    path = writer(tmp_path / "ragas")
    dataset = load_dataset(path)

    assert dataset.format == "ragas"
    first = dataset.questions[0]
    assert first.question == QUESTIONS[0][1] and first.reference_answers == ("287.5 rpm",)
    assert first.reference_contexts == (DOCS["d1"][1],)
    assert first.relevant == {context_doc_id(DOCS["d1"][1]): 1}
    assert len(dataset.corpus.records) == 3


def test_llamaindex_json_reads_examples(tmp_path):
    dataset = load_dataset(write_llamaindex(tmp_path / "li"))

    assert dataset.format == "llamaindex" and len(dataset.questions) == 3
    assert dataset.questions[2].reference_answers == ("every spring in April",)


def test_llamaindex_source_files_folder_is_the_corpus(tmp_path):
    path = write_llamaindex(tmp_path / "li")
    (tmp_path / "li" / "source_files").mkdir()
    (tmp_path / "li" / "source_files" / "plant.txt").write_text("The plant has four units.", encoding="utf-8")

    dataset = load_dataset(path)

    assert dataset.corpus.path == tmp_path / "li" / "source_files"
    assert all(not q.relevant for q in dataset.questions)
    assert any("source_files" in note for note in dataset.notes)


@pytest.mark.parametrize(
    "writer, expected",
    [(write_verirag, "verirag"), (write_beir, "beir"), (write_llamaindex, "llamaindex"), (write_ragas_jsonl, "ragas"),
     (write_ragas_csv, "ragas")],
)
def test_format_is_detected_from_the_folder(tmp_path, writer, expected):
    writer(tmp_path / "set")
    assert detect_format(tmp_path / "set") == expected


def test_an_unknown_folder_names_what_it_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(DatasetError, match="cannot tell the data set's format.*notes.txt.*--format"):
        load_dataset(tmp_path)


def test_a_bad_line_names_file_line_and_field(tmp_path):
    folder = write_verirag(tmp_path / "set", halu=False)
    lines = (folder / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    record["question"] = 42
    lines[2] = json.dumps(record)
    (folder / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(DatasetError, match=r"qa\.jsonl:3: field 'question' must be a string, got int 42"):
        load_dataset(folder)


def test_invalid_json_and_bad_labels_are_named(tmp_path):
    folder = tmp_path / "set"
    write_jsonl(folder / "halu.jsonl", [{"id": "h1", "question": None, "context": "c", "answer": "a", "label": "maybe"}])
    with pytest.raises(DatasetError, match=r"halu\.jsonl:1: field 'label' must be \"supported\" or \"unsupported\", got 'maybe'"):
        load_dataset(folder)
    (folder / "halu.jsonl").write_text('{"id": "h1", "question": \n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"halu\.jsonl:1: not valid JSON"):
        load_dataset(folder)


def test_duplicate_ids_are_refused(tmp_path):
    folder = tmp_path / "set"
    write_jsonl(folder / "qa.jsonl", [{"id": "a", "question": "x?"}, {"id": "a", "question": "y?"}])
    with pytest.raises(DatasetError, match=r"qa\.jsonl:2: id 'a' is used twice \(first at line 1\)"):
        load_dataset(folder)


def test_ragas_csv_list_cells_must_be_lists(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text('user_input,reference_contexts\n"What?","not a list"\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"set\.csv:2: column 'reference_contexts' must hold a list of strings"):
        load_dataset(path)


def test_llamaindex_example_without_query_is_named(tmp_path):
    path = tmp_path / "rag_dataset.json"
    path.write_text(json.dumps({"examples": [{"query": "ok?"}, {"reference_answer": "x"}]}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"rag_dataset\.json examples\[1\]: field 'query' must be a string, got missing"):
        load_dataset(path)


def test_beir_qrels_with_a_bad_score_is_named(tmp_path):
    folder = write_beir(tmp_path / "beir")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tmany\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"test\.tsv:2: the score 'many' is not a number"):
        load_dataset(folder)


@pytest.mark.shared_data
def test_the_shared_data_sets_load(shared_datasets):
    scifact = load_dataset(shared_datasets / "scifact")
    assert scifact.format == "beir" and len(scifact.questions) == 809 and scifact.retrieval_only
    squad = load_dataset(shared_datasets / "squad2-sample")
    assert squad.format == "verirag" and len(squad.questions) == 500
    assert sum(1 for q in squad.questions if q.answerable is False) == 258
    claims = load_dataset(shared_datasets / "scifact-claims-dev")
    assert len(claims.labelled) == 564 and sum(a.unsupported for a in claims.labelled) == 194
    halueval = load_dataset(shared_datasets / "halueval-qa")
    assert len(halueval.questions) == 5000 and len(halueval.labelled) == 10000
