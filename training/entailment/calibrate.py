"""Calibrate the exported model on the held-out slice and report how it does there.

The held-out pairs (``heldout.jsonl`` from ``build_data.py``: 10 % of every set, by a hash of the record,
never trained on) are split in two by the same kind of hash: the **calibration** half fits the softmax
temperature (minimum negative log-likelihood) and the decision thresholds; the **report** half measures
accuracy per set beside the majority-class baseline, and the calibration (a reliability table and the
expected calibration error of P(supported)). The thresholds and temperature go into ``verirag.json``;
the report into ``calibration.json`` beside the model (docs/verifier.md quotes it).

    python -m training.entailment.calibrate --data .verirag/training/entailment --model models/verirag-nli-minilm-l6
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from rag.verify.entailment import OnnxEntailmentModel

LABEL_INDEX = {"entailment": 0, "neutral": 1, "contradiction": 2}
BATCH = 32


def half(row: dict) -> str:
    digest = hashlib.sha256(("calibration:" + row["hypothesis"] + row["premise"][:100]).encode()).digest()
    return "calibration" if digest[0] % 2 == 0 else "report"


def logits_of(model: OnnxEntailmentModel, rows: list[dict]) -> np.ndarray:
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["premise"]) + len(rows[i]["hypothesis"]))
    out = np.zeros((len(rows), 3))
    for start in range(0, len(order), BATCH):
        idx = order[start:start + BATCH]
        out[idx] = model.logits([(rows[i]["premise"], rows[i]["hypothesis"]) for i in idx])
    return out


def softmax(logits: np.ndarray, t: float) -> np.ndarray:
    z = logits / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, rows: list[dict], t: float) -> float:
    p = softmax(logits, t)
    losses = []
    for prob, row in zip(p, rows):
        if row["label"] == "not_entailment":
            losses.append(-np.log(prob[1] + prob[2] + 1e-12))
        else:
            losses.append(-np.log(prob[LABEL_INDEX[row["label"]]] + 1e-12))
    return float(np.mean(losses))


def is_supported(row: dict) -> bool:
    return row["label"] == "entailment"


def balanced_accuracy(scores: np.ndarray, truth: np.ndarray, cut: float) -> float:
    pred = scores >= cut
    pos, neg = truth, ~truth
    return 0.5 * ((pred & pos).sum() / max(1, pos.sum()) + (~pred & neg).sum() / max(1, neg.sum()))


def reliability(p_sup: np.ndarray, truth: np.ndarray, bins: int = 10) -> tuple[list[dict], float]:
    table, ece = [], 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (p_sup >= lo) & ((p_sup < hi) if b < bins - 1 else (p_sup <= hi))
        if not inside.any():
            continue
        confidence, accuracy = float(p_sup[inside].mean()), float(truth[inside].mean())
        ece += inside.sum() / len(p_sup) * abs(confidence - accuracy)
        table.append({"bin": f"{lo:.1f}–{hi:.1f}", "pairs": int(inside.sum()),
                      "mean_p_supported": round(confidence, 3), "share_supported": round(accuracy, 3)})
    return table, round(float(ece), 4)


def per_set_report(rows: list[dict], probs: np.ndarray, cut: float) -> dict:
    by_set: dict[str, list[int]] = collections.defaultdict(list)
    for i, row in enumerate(rows):
        by_set[row["set"]].append(i)
    report = {}
    for name, idx in sorted(by_set.items()):
        labels = [rows[i]["label"] for i in idx]
        binary = any(label == "not_entailment" for label in labels) or name.startswith("fever")
        if binary:
            truth = [label == "entailment" for label in labels]
            pred = [probs[i][0] >= cut for i in idx]
            majority = max(sum(truth), len(truth) - sum(truth)) / len(truth)
            kind = "supported vs not"
        else:
            truth = [LABEL_INDEX[label] for label in labels]
            pred = [int(np.argmax(probs[i])) for i in idx]
            majority = collections.Counter(truth).most_common(1)[0][1] / len(truth)
            kind = "3-way"
        accuracy = sum(int(a == b) for a, b in zip(truth, pred)) / len(truth)
        report[name] = {"pairs": len(idx), "task": kind, "accuracy": round(accuracy, 3),
                        "majority_baseline": round(majority, 3)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".verirag/training/entailment"))
    parser.add_argument("--model", type=Path, default=Path("models/verirag-nli-minilm-l6"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.data / "heldout.jsonl").open()]
    meta_path = args.model / "verirag.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("temperature", None)
    meta.pop("thresholds", None)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    model = OnnxEntailmentModel(args.model)
    started = time.perf_counter()
    logits = logits_of(model, rows)
    seconds = time.perf_counter() - started
    cal = [i for i, r in enumerate(rows) if half(r) == "calibration"]
    rep = [i for i, r in enumerate(rows) if half(r) == "report"]
    cal_rows, rep_rows = [rows[i] for i in cal], [rows[i] for i in rep]
    temperature = min(np.arange(0.5, 3.01, 0.05), key=lambda t: nll(logits[cal], cal_rows, t))
    p_cal, p_rep = softmax(logits[cal], temperature), softmax(logits[rep], temperature)
    truth_cal = np.array([is_supported(r) for r in cal_rows])
    truth_rep = np.array([is_supported(r) for r in rep_rows])
    cuts = np.arange(0.05, 0.96, 0.01)
    supported_cut = float(max(cuts, key=lambda c: balanced_accuracy(p_cal[:, 0], truth_cal, c)))
    contra_truth = np.array([r["label"] == "contradiction" for r in cal_rows])
    three_way = np.array([r["label"] != "not_entailment" for r in cal_rows])

    def contra_f1(c: float) -> float:
        pred = (p_cal[:, 2] >= c) & three_way
        tp = (pred & contra_truth).sum()
        return 2 * tp / max(1, pred.sum() + (contra_truth & three_way).sum())

    contradicted_cut = float(max(cuts, key=contra_f1))
    # Below this P(supported) the model says "not supported" with ≥ 90 % precision on the calibration half.
    not_supported_cut = supported_cut
    for c in sorted(cuts[cuts <= supported_cut], reverse=True):
        chosen = p_cal[:, 0] < c
        if chosen.any() and (~truth_cal[chosen]).mean() >= 0.9:
            not_supported_cut = float(c)
            break
    table, ece = reliability(p_rep[:, 0], truth_rep)
    raw_table, raw_ece = reliability(softmax(logits[rep], 1.0)[:, 0], truth_rep)
    meta["temperature"] = round(float(temperature), 3)
    meta["thresholds"] = {"supported": round(supported_cut, 3), "contradicted": round(contradicted_cut, 3),
                          "not_supported": round(not_supported_cut, 3)}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    report = {
        "heldout_pairs": len(rows), "calibration_pairs": len(cal), "report_pairs": len(rep),
        "temperature": meta["temperature"], "thresholds": meta["thresholds"],
        "supported_vs_not_balanced_accuracy_report_half": round(
            float(balanced_accuracy(p_rep[:, 0], truth_rep, supported_cut)), 4),
        "ece_p_supported": ece, "ece_before_temperature": raw_ece, "reliability": table,
        "per_set": per_set_report(rep_rows, p_rep, supported_cut),
        "pairs_per_second_int8": round(len(rows) / seconds, 1),
    }
    (args.model / "calibration.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "reliability"}, indent=2))


if __name__ == "__main__":
    main()
