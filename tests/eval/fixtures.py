"""Tiny data sets in every format, written by the tests, and a DeepSeek-wire responder that answers
their questions (and ragas' judge prompts) the same way every time, so metrics can be computed by hand.

The corpus: four short, lexically distinct documents about a hydro plant. The questions:

=====  ===========================================  =======================  ==========================
id     question                                     reference                the model's answer
=====  ===========================================  =======================  ==========================
q1     At what speed does Unit 3 trip on overspeed?  287.5 rpm                287.5 rpm [S#]
q2     How much water does the Lindenau reservoir…   42 million cubic metres  42 million cubic metres of water [S#]
q3     When are the penstock valves maintained?      every spring in April    in April [S#]
q4     Who designed the Lindenau dam? (unanswerable)  —                        The sources do not contain the answer.
=====  ===========================================  =======================  ==========================
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from rag.prompts import ABSTAIN_PHRASE
from tests.support.deepseek_server import Reply, label_holding

DOCS = {
    "d1": ("Unit 3", "The Kaplan turbine in Unit 3 trips on overspeed at 287.5 rpm."),
    "d2": ("Reservoir", "The reservoir of the Lindenau dam holds 42 million cubic metres of water."),
    "d3": ("Valves", "Maintenance of the penstock valves happens every spring in April."),
    "d4": ("Staffing", "The control room is staffed by two operators around the clock."),
}
QUESTIONS = [
    # id, question, reference, relevant doc, the model's answer ("{label}" is the source holding the doc)
    ("q1", "At what speed does Unit 3 trip on overspeed?", "287.5 rpm", "d1", "287.5 rpm [{label}]"),
    ("q2", "How much water does the Lindenau reservoir hold?", "42 million cubic metres", "d2",
     "42 million cubic metres of water [{label}]"),
    ("q3", "When are the penstock valves maintained?", "every spring in April", "d3", "in April [{label}]"),
    ("q4", "Who designed the Lindenau dam?", "", "d2", ABSTAIN_PHRASE),
]
ANSWER_BY_QUESTION = {question: (doc, answer) for _, question, _, doc, answer in QUESTIONS}
QUESTION_BY_ANSWER = {re.sub(r"\s*\[\{label\}\]", "", answer): question for _, question, _, _, answer in QUESTIONS}
LABELLED = [
    # id, context doc, answer, label
    ("h1", "d1", "287.5 rpm", "supported"),
    ("h2", "d2", "The reservoir holds 42 billion litres and was built in 1921 by Siemens.", "unsupported"),
    ("h3", "d3", "April", "supported"),
    ("h4", "d4", "The control room has three operators.", "unsupported"),
]
PROMPT_TOKENS, CACHE_HIT, COMPLETION_TOKENS = 1000, 600, 20


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def corpus_records() -> list[dict]:
    return [{"id": doc_id, "title": title, "text": text} for doc_id, (title, text) in DOCS.items()]


def write_verirag(folder: Path, *, qa: bool = True, halu: bool = True, corpus: bool = True) -> Path:
    if corpus:
        write_jsonl(folder / "corpus.jsonl", corpus_records())
    if qa:
        write_jsonl(folder / "qa.jsonl", [
            {"id": qid, "question": question, "reference_answer": reference,
             "all_reference_answers": [reference], "is_impossible": not reference,
             "reference_contexts": [DOCS[doc][1]], "source_doc_ids": [doc]}
            for qid, question, reference, doc, _ in QUESTIONS
        ])
    if halu:
        write_jsonl(folder / "halu.jsonl", [
            {"id": hid, "question": None, "context": DOCS[doc][1], "answer": answer, "label": label, "doc_id": doc}
            for hid, doc, answer, label in LABELLED
        ])
    return folder


def write_beir(folder: Path) -> Path:
    write_jsonl(folder / "corpus.jsonl", [{"_id": r["id"], "title": r["title"], "text": r["text"]} for r in corpus_records()])
    write_jsonl(folder / "queries.jsonl", [{"_id": qid, "text": question} for qid, question, *_ in QUESTIONS[:3]]
                + [{"_id": "unjudged", "text": "Is there a cafeteria?"}])
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{qid}\t{doc}\t1" for qid, _, _, doc, _ in QUESTIONS[:3]]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def ragas_samples() -> list[dict]:
    return [
        {"user_input": question, "retrieved_contexts": ["ignored"], "reference_contexts": [DOCS[doc][1]],
         "response": "ignored", "reference": reference}
        for _, question, reference, doc, _ in QUESTIONS[:3]
    ]


def write_ragas_jsonl(folder: Path) -> Path:
    return write_jsonl(folder / "ragas_dataset.jsonl", ragas_samples())


def write_ragas_csv(folder: Path) -> Path:
    """As ragas' EvaluationDataset.to_csv writes it: lists as their Python repr."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ragas_dataset.csv"
    samples = ragas_samples()
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(samples[0]))
        writer.writeheader()
        for sample in samples:
            writer.writerow({k: (str(v) if isinstance(v, list) else v) for k, v in sample.items()})
    return path


def write_llamaindex(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    examples = [
        {"query": question, "query_by": {"model_name": "gpt-4", "type": "ai"}, "reference_contexts": [DOCS[doc][1]],
         "reference_answer": reference, "reference_answer_by": {"model_name": None, "type": "human"}}
        for _, question, reference, doc, _ in QUESTIONS[:3]
    ]
    path = folder / "rag_dataset.json"
    path.write_text(json.dumps({"examples": examples}, indent=4), encoding="utf-8")
    return path


# -- the model ---------------------------------------------------------------------------------------


def answer_reply(body: dict) -> Reply:
    """The RAG prompt (system message with sources, question last) → the table's answer."""
    messages = body["messages"]
    question = messages[-1]["content"]
    doc, answer = ANSWER_BY_QUESTION[question]
    if "{label}" in answer:
        answer = answer.format(label=label_holding(messages[0]["content"], DOCS[doc][1][:30]))
    return Reply(reasoning="The sources answer it.", content=answer, prompt_tokens=PROMPT_TOKENS,
                 prompt_cache_hit_tokens=CACHE_HIT, prompt_cache_miss_tokens=PROMPT_TOKENS - CACHE_HIT,
                 completion_tokens=COMPLETION_TOKENS)


def ragas_input(prompt: str) -> dict:
    marker = "Now perform the same with the following input"
    tail = prompt[prompt.rindex(marker) + len(marker):]
    body = tail.split("input:", 1)[1].rsplit("Output:", 1)[0]
    return json.loads(body)


def judge_reply(prompt: str) -> str:
    """ragas' prompts, answered so the metrics are: faithfulness 0.5 (two statements, one supported),
    answer_relevancy 1.0 (the generated question is the asked one), llm context precision 1.0 (every
    context useful), context recall 2/3 (two of three sentences attributed)."""
    data = ragas_input(prompt)
    if prompt.startswith("Given a question and an answer, analyze the complexity"):
        return json.dumps({"statements": [data["answer"], "The plant is in Germany."]})
    if prompt.startswith("Your task is to judge the faithfulness"):
        return json.dumps({"statements": [
            {"statement": s, "reason": "checked", "verdict": 1 if i == 0 else 0} for i, s in enumerate(data["statements"])
        ]})
    if prompt.startswith("Generate a question for the given answer"):
        return json.dumps({"question": QUESTION_BY_ANSWER[data["response"]], "noncommittal": 0})
    if prompt.startswith("Given question, answer and context verify"):
        return json.dumps({"reason": "useful", "verdict": 1})
    if prompt.startswith("Given a context, and an answer, analyze each sentence"):
        return json.dumps({"classifications": [
            {"statement": f"s{i}", "reason": "r", "attributed": int(i != 2)} for i in range(3)
        ]})
    raise AssertionError(f"unexpected judge prompt: {prompt[:120]!r}")


def responder(body: dict) -> Reply:
    """Answers the RAG prompts and ragas' judge prompts on one server."""
    messages = body["messages"]
    if messages[0]["role"] == "system":
        return answer_reply(body)
    return Reply(content=judge_reply(messages[-1]["content"]), prompt_tokens=100, completion_tokens=30)
