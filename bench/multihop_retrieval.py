"""Multi-hop retrieval: does a question get *all* its supporting facts among its sources?

HotpotQA's questions (``../shared/datasets/halueval-qa``) need two facts each. The corpus is every
supporting fact of all 5,000 questions as its own document (eval.loaders.multihop: one collection that
``verirag eval run --format multihop`` indexes; run that first). For a seeded sample of questions this
compares, with the same number of sources per question:

  tool loop   the real pipeline with the search tool (rag.multistep.tool_loop): ``--initial-k`` passages
              first, then the model's searches (``--search-k`` each, at most ``--max-calls``), against the
              DeepSeek wire-format test server (tests/support/deepseek_server.py) through the ``openai`` SDK.
              The scripted model searches once per sub-question the rules of rag.multistep.decompose find
              (a comparison's two sides; a bridge's follow-up on the source sharing most words with the
              question), in parallel, then answers.
              Its queries are the rules', not a model's own: this measures the loop, not a model's judgement.
  single      one retrieval of as many passages as the tool loop's sources for that question
  decompose   the two-step strategy (rag.multistep.decompose) at that same depth

and reports the share of questions whose every fact is among the sources ("all recalled"), over all
questions and over those with two or more facts.

    .venv/bin/python bench/multihop_retrieval.py --limit 1000 --out bench/results/multihop-tool-loop.json \
        --markdown bench/results/multihop-tool-loop.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit, machine_info, project_relative  # noqa: E402

DEFAULT_DATASET = "../shared/datasets/halueval-qa"
STRATEGIES = ("single_initial", "single", "decompose", "tool_loop")
_SOURCE = re.compile(r"^\[(S\d+)\][^\n]*\n(.*?)(?=\n\n\[S\d+\]|\Z)", re.MULTILINE | re.DOTALL)


def scripted_model(body: dict):
    """The test server's responder: search per sub-question once, then answer citing the sources."""
    from rag.multistep.decompose import FOLLOW_UP_CHARS, sub_questions
    from tests.support.deepseek_server import Reply

    messages = body["messages"]
    question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if any(m["role"] == "tool" for m in messages):
        labels = sorted({label for m in messages if m["role"] == "tool" for label in re.findall(r"\[(S\d+)\]", m["content"])})
        return Reply(reasoning="Answering from every source.", content=f"From the sources [S1]{''.join(f'[{x}]' for x in labels)}.")
    parts = sub_questions(question).parts
    if not parts:
        # A bridge: follow up on the source that answers the question's first half. The prompt lists sources
        # by document, not by rank, so the scripted model picks the one sharing most words with the question.
        sources = [match.group(2) for match in _SOURCE.finditer(messages[0]["content"].split("\nSources:\n", 1)[-1])]
        words = set(re.findall(r"\w+", question.lower()))
        best = max(sources, key=lambda text: len(words & set(re.findall(r"\w+", text.lower()))), default="")
        parts = (f"{question} {' '.join(best.split())[:FOLLOW_UP_CHARS]}".strip(),)
    return Reply(reasoning="Searching for each part.",
                 tool_calls=[{"name": "search", "arguments": {"query": part}} for part in parts])


def run(args: argparse.Namespace) -> dict:
    import os

    from eval.corpus import collection_name
    from eval.loaders.multihop import load
    from rag.embedding import embedder_for
    from rag.multistep.decompose import retrieve_decomposed
    from rag.pipeline import AnswerRequest, Pipeline
    from rag.settings import Settings
    from rag.store import open_store
    from tests.support.deepseek_server import DeepSeekWireServer

    dataset = load(Path(args.dataset))
    questions = [q for q in dataset.questions if q.relevant]
    sample = random.Random(args.seed).sample(questions, min(args.limit, len(questions))) if args.limit else questions
    collection = collection_name(dataset)
    os.environ["VERIRAG_BENCH_KEY"] = "sk-bench"
    rows = []
    started = time.time()
    with DeepSeekWireServer(api_key="sk-bench", responder=scripted_model) as server:
        settings = Settings(
            data_dir=Path(args.data_dir), fusion=args.fusion, multistep="tools", retrieval_top_k=args.initial_k,
            search_tool_top_k=args.search_k, search_tool_max_calls=args.max_calls, default_model="deepseek-v4-flash",
            profiles={"deepseek-v4-flash": {"base_url": server.base_url, "api_key_env": "VERIRAG_BENCH_KEY"}},
        )
        embedder = embedder_for(settings)
        with open_store(settings, collection) as store:
            pipeline = Pipeline(settings, store, embedder)
            for question in sample:
                wanted = set(question.relevant)
                result = pipeline.answer(AnswerRequest(question.question))
                n = len(result.passages)
                single = pipeline.retriever.retrieve(question.question, top_k=n, fusion=args.fusion)
                decomposed = retrieve_decomposed(pipeline.retriever, question.question, n, fusion=args.fusion)
                first = pipeline.retriever.retrieve(question.question, top_k=args.initial_k, fusion=args.fusion)
                rows.append({
                    "id": question.id, "facts": len(wanted), "sources": n,
                    "single_initial": wanted <= {p.doc_id for p in first},
                    "tool_loop": wanted <= {p.doc_id for p in result.passages},
                    "single": wanted <= {p.doc_id for p in single},
                    "decompose": wanted <= {p.doc_id for p in decomposed},
                })
        errors = list(server.errors)
    seconds = time.time() - started

    def share(key: str, subset: list[dict]) -> float | None:
        return round(sum(r[key] for r in subset) / len(subset), 4) if subset else None

    multi = [r for r in rows if r["facts"] >= 2]
    return {
        "benchmark": "multihop_retrieval",
        "when": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "dataset": project_relative(args.dataset), "collection": collection, "corpus_facts": len(dataset.corpus.records),
        "questions": len(rows), "multi_fact_questions": len(multi), "seed": args.seed,
        "settings": {"initial_k": args.initial_k, "search_k": args.search_k, "max_calls": args.max_calls,
                     "fusion": args.fusion},
        "mean_sources": round(sum(r["sources"] for r in rows) / max(len(rows), 1), 2),
        "all_recalled": {key: share(key, rows) for key in STRATEGIES},
        "all_recalled_multi": {key: share(key, multi) for key in STRATEGIES},
        "server_errors": [repr(e) for e in errors], "seconds": round(seconds, 1), "machine": machine_info(),
        "rows": rows,
    }


def render(result: dict) -> str:
    s = result["settings"]
    intro = (
        f"Run {result['when']} with `bench/multihop_retrieval.py`. Corpus: {result['corpus_facts']:,} supporting facts "
        f"of {result['dataset']} (collection `{result['collection']}`), one document each; a seeded sample "
        f"(seed {result['seed']}) of {result['questions']} questions, {result['multi_fact_questions']} with two or more "
        f"facts. Tool loop: {s['initial_k']} passages first, then up to {s['max_calls']} searches of {s['search_k']}; "
        f"fusion {s['fusion']}. Single and decompose get as many passages as the tool loop ended with, per question "
        f"(mean {result['mean_sources']})."
    )
    lines = [
        f"### Multi-hop retrieval: tool loop vs decomposition vs one retrieval ({result['questions']} questions)",
        "",
        intro,
        "",
        "| strategy | all facts among the sources (all questions) | (questions with 2+ facts) |",
        "|---|---:|---:|",
    ]
    names = {"single_initial": f"one retrieval, {s['initial_k']} passages (the loop's start)",
             "single": "one retrieval, as many passages as the loop", "decompose": "decompose + RRF, as many passages",
             "tool_loop": "search tool loop (scripted model)"}
    for key in STRATEGIES:
        lines.append(f"| {names[key]} | {result['all_recalled'][key]:.4f} | {result['all_recalled_multi'][key]:.4f} |")
    lines += ["", f"- {result['seconds']} s; test-server errors: {len(result['server_errors'])}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--data-dir", default=".verirag", help="Where `verirag eval run --format multihop` indexed it.")
    parser.add_argument("--limit", type=int, default=1000, help="Questions sampled (0: all).")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--initial-k", type=int, default=5)
    parser.add_argument("--search-k", type=int, default=5)
    parser.add_argument("--max-calls", type=int, default=2)
    parser.add_argument("--fusion", default="dbsf", choices=("rrf", "dbsf"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--render", type=Path, help="Print the Markdown of an earlier --out file.")
    args = parser.parse_args()
    if args.render:
        import json

        print(render(json.loads(args.render.read_text())))
        return
    emit(run(args), render, args.out, args.markdown)


if __name__ == "__main__":
    main()
