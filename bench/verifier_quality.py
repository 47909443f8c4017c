"""How well the verifier detects unsupported answers, layer by layer, beside two baselines; and how long
its non-LLM layers take per answer.

Each item of a labelled set (``halu.jsonl``: question or null, one context passage, an answer, a label
supported / unsupported) becomes one passage ``S1`` and one answer without citations, and is verified with
``require_citations=False``. Positive class: unsupported. A verifier flags an answer when its verdict is
not "supported"; its AUROC score is ``1 - verdict.score``. Configurations:

  exact          the exact judge alone (numbers, dates, quotes, names, negation, antonyms)
  semantic       the similarity judge alone
  exact+semantic the two previous cheap layers together (LLM judge off)
  entailment     the entailment model alone (similarity only picks the spans it reads)
  exact+entailment  the default verifier without an LLM: exact checks, then the entailment model
  exact+entailment, wider reading   the default, each claim also reading 2 distinctive sentences of a long
                 passage (``AnswerVerifier(extra_sentences=2)``, rag.verify.reading)
  exact+entailment, missing items to the model   the default, a name, code or number in no source (with no
                 rival value there) left to the model (``AnswerVerifier(missing_decides=False)``)
  exact+entailment, compared model   the default layers with another entailment model (``--compare-model``,
                 e.g. a copy of the model shipped before a retraining)
  llm            the LLM judge alone, on every claim (mode ``always``, no cheap layer)
  combined       exact, entailment and the LLM judge where they are undecided (mode ``uncertain``)
  length         baseline: word count, > 5 words flagged (eval.detection)
  token overlap  baseline: share of content tokens absent from the context, > 0.5 flagged

The cheap configurations run on the whole set; the LLM ones on a fixed random subsample (``--llm-sample``,
seed ``--seed``), where every other configuration is reported again for a paired comparison. The LLM
judge's replies are cached by prompt, so ``combined`` reuses the ``llm`` run's calls where the prompt is
the same (a single-claim answer). Latency: wall time of ``verify`` per answer with the LLM judge off
(``exact+entailment``, the default), p50 / p95, in a pass of its own with a fresh verifier (each answer is new to the
embedding cache, as in service), plus the p50 of the same configuration in the quality pass; and what the
entailment model read in that pass: pairs, model calls and model tokens per answer (tokens as the model's
tokenizer counts them, padding of each call included; counted after each answer's timing).

    .venv/bin/python bench/verifier_quality.py --limit 200 --llm-sample 0           # quick check
    .venv/bin/python bench/verifier_quality.py --out bench/results/verifier.json \\
        --markdown bench/results/verifier.md                                          # the documented run
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, machine_info  # noqa: E402

SETS = {
    "scifact-claims-dev": "../shared/datasets/scifact-claims-dev/halu.jsonl",
    "halueval-qa": "../shared/datasets/halueval-qa/halu.jsonl",
}
CHEAP = {
    "exact": ("exact",),
    "semantic": ("semantic",),
    "exact+semantic": ("exact", "semantic"),  # the previous verifier's layers
    "entailment": ("entailment", "semantic"),  # the model alone (similarity only ranks its spans)
    "exact+entailment": ("exact", "entailment", "semantic"),  # the default, LLM judge off
}
DEFAULT = "exact+entailment"
# The default layers read another way: measured beside the default in every run (docs/verifier.md).
WIDER = "exact+entailment, wider reading"
MISSING_TO_MODEL = "exact+entailment, missing items to the model"
COMPARED = "exact+entailment, compared model"


def variants() -> dict[str, dict]:
    from rag.verify.reading import WIDER_READING

    return {WIDER: {"extra_sentences": WIDER_READING}, MISSING_TO_MODEL: {"missing_decides": False}}


def load(path: Path, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def as_inputs(row: dict):
    from rag.types import Generation, Passage, Usage

    context = row["context"]
    passage = Passage("S1", str(row.get("doc_id") or row["id"]), context, f"dataset:{row['id']}", "", (), (), 0,
                      len(context), (0,))  # fmt: skip
    return row.get("question"), [passage], Generation("", row["answer"], Usage(), "stop", "")


class CachedJudgeBackend:
    """Wraps a backend so identical judge prompts are answered once (the llm and combined runs share)."""

    def __init__(self, inner):
        self.inner = inner
        self.replies: dict[str, object] = {}
        self.calls = 0
        self.seconds = 0.0

    def generate(self, profile, messages, **kwargs):
        key = json.dumps(messages, sort_keys=True)
        if key not in self.replies:
            started = time.perf_counter()
            self.replies[key] = self.inner.generate(profile, messages, **kwargs)
            self.seconds += time.perf_counter() - started
            self.calls += 1
        return self.replies[key]


class CountingModel:
    """Wraps the entailment model and keeps the pairs of each call, to count what an answer costs it."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.decision = inner.decision
        self.max_length = getattr(inner, "max_length", 256)
        self.calls: list[list[tuple[str, str]]] = []

    def probabilities(self, pairs):
        self.calls.append(list(pairs))
        return self.inner.probabilities(pairs)

    def take(self) -> dict:
        """The pairs, calls and padded tokens since the last ``take``."""
        calls, self.calls = self.calls, []
        count = getattr(self.inner, "token_count", None)
        tokens = 0
        for call in calls:
            if count is not None and call:
                width = max(min(self.max_length, count(premise) + count(claim) + 3) for premise, claim in call)
                tokens += width * len(call)
        return {"pairs": sum(map(len, calls)), "calls": len(calls), "tokens": tokens}


def _spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "p50": statistics.median(values), "p95": percentile(values, 0.95),
            "max": max(values)} if values else {}


def subsample_indexes(rows, args) -> list[int]:
    rng = random.Random(args.seed)
    return sorted(rng.sample(range(len(rows)), min(args.llm_sample, len(rows))))


def run_verifiers(verifiers: dict, rows, progress: str) -> tuple[dict[str, list[dict]], dict[str, list[float]]]:
    from tqdm import tqdm

    verdicts: dict[str, list[dict]] = {config: [] for config in verifiers}
    seconds: dict[str, list[float]] = {config: [] for config in verifiers}
    for row in tqdm(rows, desc=progress, file=sys.stderr, mininterval=5):
        question, passages, generation = as_inputs(row)
        for config, verifier in verifiers.items():
            started = time.perf_counter()
            verdict = verifier.verify(question, passages, generation, require_citations=False)
            seconds[config].append(time.perf_counter() - started)
            verdicts[config].append({"label": verdict.label, "score": verdict.score,
                                     "judges": [c.judge for c in verdict.claims if c.origin == "answer"]})
    return verdicts, seconds


def run_verifier(verifier, rows, progress: str, after=None) -> tuple[list[dict], list[float]]:
    """Verdicts and seconds per answer; ``after()`` runs after each answer's timing."""
    from tqdm import tqdm

    out, seconds = [], []
    for row in tqdm(rows, desc=progress, file=sys.stderr, mininterval=5):
        question, passages, generation = as_inputs(row)
        started = time.perf_counter()
        verdict = verifier.verify(question, passages, generation, require_citations=False)
        seconds.append(time.perf_counter() - started)
        if after is not None:
            after()
        out.append({"label": verdict.label, "score": verdict.score,
                    "judges": [c.judge for c in verdict.claims if c.origin == "answer"]})
    return out, seconds


def metrics_for(rows, verdicts) -> dict:
    from eval.detection import detection_metrics

    truth = [row["label"] == "unsupported" for row in rows]
    return detection_metrics(truth, [v["label"] != "supported" for v in verdicts], [1 - v["score"] for v in verdicts])


def baselines(rows) -> dict:
    from eval.detection import (detection_metrics, length_baseline_predictions, length_baseline_scores,
                                overlap_baseline_predictions, overlap_baseline_scores)  # fmt: skip

    truth = [row["label"] == "unsupported" for row in rows]
    answers = [row["answer"] for row in rows]
    length = length_baseline_scores(answers)
    overlap = overlap_baseline_scores(answers, [row["context"] for row in rows])
    return {
        "length": detection_metrics(truth, length_baseline_predictions(length), length),
        "token overlap": detection_metrics(truth, overlap_baseline_predictions(overlap), overlap),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_set(name: str, rows: list[dict], args, embedder, settings) -> dict:
    from rag.verify.verifier import AnswerVerifier

    result: dict = {"n": len(rows), "full": {}, "subsample": {}}
    if args.subsample_only:
        rows_for_cheap = [rows[i] for i in subsample_indexes(rows, args)]
        result["n_cheap"] = len(rows_for_cheap)
    else:
        rows_for_cheap = rows
    # All cheap configurations answer each item in turn, so the semantic ones share its embeddings.
    verifiers = {config: AnswerVerifier(settings, embedder, judge_mode="off", layers=layers)
                 for config, layers in CHEAP.items()}  # fmt: skip
    verifiers |= {config: AnswerVerifier(settings, embedder, judge_mode="off", layers=CHEAP[DEFAULT], **options)
                  for config, options in variants().items()}  # fmt: skip
    if args.compare_model:  # another entailment model (e.g. the one shipped before) in the same run
        other = settings.with_overrides(entailment_model=str(args.compare_model))
        verifiers[COMPARED] = AnswerVerifier(other, embedder, judge_mode="off", layers=CHEAP[DEFAULT])
    verdicts_by_config, seconds_by_config = run_verifiers(verifiers, rows_for_cheap, f"{name} cheap layers")
    seconds_cheap = seconds_by_config[DEFAULT]
    for config, verdicts in verdicts_by_config.items():
        result["full"][config] = metrics_for(rows_for_cheap, verdicts)
    result["full"].update(baselines(rows_for_cheap))
    if args.subsample_only:  # the paired comparison below reads the cheap verdicts by subsample position
        verdicts_by_config = {c: dict(zip(subsample_indexes(rows, args), v)) for c, v in verdicts_by_config.items()}
    # Latency: a fresh verifier (empty embedding cache), every answer once.
    verifier = AnswerVerifier(settings, embedder, judge_mode="off", layers=CHEAP[DEFAULT])
    counting = verifier.entailment = CountingModel(verifier.entailment) if verifier.entailment is not None else None
    sample = rows[: args.latency_items]
    read: list[dict] = []
    _, seconds = run_verifier(verifier, sample, f"{name} latency",
                              after=(lambda: read.append(counting.take())) if counting else None)
    result["latency_ms"] = {"config": DEFAULT, "items": len(sample), "p50": 1000 * statistics.median(seconds),
                            "p95": 1000 * percentile(seconds, 0.95), "mean": 1000 * statistics.fmean(seconds),
                            "quality_pass_p50": 1000 * statistics.median(seconds_cheap)}  # fmt: skip
    if read:
        result["entailment_reads"] = {key: _spread([r[key] for r in read]) for key in ("pairs", "calls", "tokens")}
    if args.llm_sample:
        result["subsample"] = measure_llm(name, rows, args, embedder, settings, verdicts_by_config)
    return result


def measure_llm(name, rows, args, embedder, settings, verdicts_by_config) -> dict:
    from rag.backends import backend_for
    from rag.profiles import resolve_profile
    from rag.verify.verifier import AnswerVerifier

    indexes = subsample_indexes(rows, args)
    chosen = [rows[i] for i in indexes]
    profile = resolve_profile(args.judge_model, settings)
    cached = CachedJudgeBackend(backend_for(profile, settings))
    import rag.backends as backends_module

    real_backend_for = backends_module.backend_for
    backends_module.backend_for = lambda profile, settings=None: cached  # the verifier imports it per call
    try:
        out = {"indexes_seed": args.seed, "n": len(chosen), "judge_model": args.judge_model}
        for config, mode, layers in (("llm", "always", ("llm",)), ("combined", "uncertain", ("exact", "entailment", "semantic", "llm"))):
            verifier = AnswerVerifier(settings, embedder, judge_mode=mode, judge_model=args.judge_model, layers=layers)
            verdicts, _ = run_verifier(verifier, chosen, f"{name} {config}")
            out[config] = metrics_for(chosen, verdicts)
            out[config]["decided_by"] = _count([j for v in verdicts for j in v["judges"]])
        for config in verdicts_by_config:
            out[config] = metrics_for(chosen, [verdicts_by_config[config][i] for i in indexes])
        out.update(baselines(chosen))
        out["judge_calls"] = cached.calls
        out["judge_seconds_per_call"] = cached.seconds / cached.calls if cached.calls else None
    finally:
        backends_module.backend_for = real_backend_for
    return out


def _count(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def render(result: dict) -> str:
    lines = [f"## Verifier: detecting unsupported answers ({result['date']})", "",
             f"Command: `{result['command']}`", ""]
    for name, data in result["sets"].items():
        scope = f"subsample of {data['n_cheap']}" if "n_cheap" in data else f"all {data['n']} answers"
        lines += [f"### {name} — {scope}", "", _table(data["full"]), ""]
        lat = data["latency_ms"]
        lines += [f"Non-LLM layers per answer ({lat.get('config', 'exact+semantic')}, {lat['items']} answers): "
                  f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms (quality pass p50 "
                  f"{lat.get('quality_pass_p50', lat.get('cached_p50', 0)):.1f} ms).", ""]
        reads = data.get("entailment_reads")
        if reads:
            lines += ["Read by the entailment model per answer in that pass: " + "; ".join(
                f"{what} mean {reads[what]['mean']:.2f}, p50 {reads[what]['p50']:g}, p95 {reads[what]['p95']:g}, "
                f"max {reads[what]['max']:g}" for what in ("pairs", "calls", "tokens")) + ".", ""]
        sub = data.get("subsample") or {}
        if sub:
            lines += [f"### {name} — random subsample of {sub['n']} (seed {sub['indexes_seed']}), LLM judge "
                      f"`{sub['judge_model']}`", "",
                      _table({k: v for k, v in sub.items() if isinstance(v, dict) and "auroc" in v}), "",
                      f"Judge calls: {sub['judge_calls']}, {sub['judge_seconds_per_call'] or 0:.1f} s each. "
                      f"Decided by (combined): {sub['combined'].get('decided_by')}.", ""]
    return "\n".join(lines)


def _table(rows: dict) -> str:
    out = ["| configuration | precision | recall | F1 | balanced acc. | AUROC |", "|---|---|---|---|---|---|"]
    for config, m in rows.items():
        if not isinstance(m, dict) or "auroc" not in m:
            continue
        auroc = f"{m['auroc']:.3f}" if m["auroc"] is not None else "—"
        out.append(f"| {config} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                   f"{m['balanced_accuracy']:.3f} | {auroc} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--datasets-dir", type=Path, default=None, help="Folder holding the sets (default ../shared/datasets).")
    parser.add_argument("--limit", type=int, default=None, help="First N answers of each set (quick runs).")
    parser.add_argument("--llm-sample", type=int, default=300, help="Answers the LLM layers judge (0: skip).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--judge-model", default="local", help="Profile of the LLM judge.")
    parser.add_argument("--latency-items", type=int, default=300)
    parser.add_argument("--subsample-only", action="store_true",
                        help="Run the cheap layers on the LLM subsample only (the LLM part of a split run).")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--compare-model", type=Path, default=None,
                        help="Folder of another entailment model, measured as the default layers beside the shipped one.")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--render", type=Path, help="Only render an earlier JSON result.")
    args = parser.parse_args()
    if args.render:
        result = json.loads(args.render.read_text())
        print(render(result))
        return
    import torch

    from rag.embedding import load_dense_embedder
    from rag.settings import Settings

    torch.set_num_threads(args.torch_threads)
    root = Path(__file__).resolve().parents[1]
    settings = Settings(llm_threads=1)
    embedder = load_dense_embedder(None, "cpu", 64)
    result = {"date": _dt.date.today().isoformat(), "command": "python " + " ".join(sys.argv),
              "machine": machine_info(), "sets": {}}
    for name in args.sets:
        path = (args.datasets_dir / name / "halu.jsonl") if args.datasets_dir else (root / SETS[name])
        if not path.exists():
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        result["sets"][name] = measure_set(name, load(path, args.limit), args, embedder, settings)
        if args.out:  # keep what is done if a later set is interrupted
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2) + "\n")
    emit(result, render, args.out, args.markdown)


if __name__ == "__main__":
    main()
