"""Build the entailment model's training and held-out data.

Reads the public NLI sets under ``../shared/datasets/nli`` (never copied into the repository) and adds
synthetic pairs made from SciFact abstracts, SQuAD 2.0 paragraphs and the sample documents
(``training/entailment/synthetic.py``). Kept out of everything: the verifier's dev sets
(``scifact-claims-dev``, ``halueval-qa``) and the SciFact abstracts they use, so the numbers reported on
them stay honest; and DocNLI's binary MNLI, which repeats the MultiNLI pairs.

Every set is split by a hash of its record id (10 % held out, fixed), then sampled per set and label
with a fixed seed so no set or label dominates. Writes ``train.jsonl``, ``heldout.jsonl`` and
``manifest.json`` (each input file with its sha256, the counts per set and label).

    python -m training.entailment.build_data --datasets ../shared/datasets --out .verirag/training
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
from pathlib import Path

from training.entailment import synthetic

# set → (files, training cap). Caps balance the sets: short-sentence NLI teaches the basic relations,
# the long-premise sets (DocNLI FEVER, WiCE, BEGIN, SummEdits) are the closest to RAG answers.
NLI_SETS: dict[str, tuple[tuple[str, ...], int]] = {
    "snli": (("dev", "test"), 7000),
    "mnli_taxinli": (("train", "dev"), 7000),
    "conjnli": (("train", "dev"), 5000),
    "breaking_nli": (("test",), 2500),
    "advglue_mnli": (("dev",), 250),
    "fever_symmetric": (("dev", "test"), 1200),
    "docnli_binary_fever": (("dev", "test"), 6000),
    "wice_oracle": (("dev", "test"), 1800),
    "wice_full": (("dev", "test"), 600),
    "begin": (("dev", "test"), 3500),
    "summedits": (("test", "evaluation"), 3000),
}
HELDOUT_PER_MILLE = 100
SYNTHETIC_CAP = 14000
QA_REPEAT = 3


def heldout(set_name: str, record_id: str) -> bool:
    digest = hashlib.sha256(f"{set_name}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1000 < HELDOUT_PER_MILLE


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def balanced_sample(rows: list[dict], cap: int, rng: random.Random) -> list[dict]:
    """At most ``cap`` rows, as even across labels as the set allows."""
    by_label: dict[str, list[dict]] = collections.defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row)
    for group in by_label.values():
        rng.shuffle(group)
    chosen: list[dict] = []
    groups = sorted(by_label.values(), key=len)
    for left, group in zip(range(len(groups), 0, -1), groups):
        chosen += group[: (cap - len(chosen)) // left]
    return chosen[:cap]


def nli_rows(root: Path, manifest: dict, rng: random.Random) -> tuple[list[dict], list[dict]]:
    train, held = [], []
    for name, (splits, cap) in NLI_SETS.items():
        rows = []
        for split in splits:
            path = root / "nli" / name / f"{split}.jsonl"
            if not path.exists():
                continue
            manifest["files"][str(path.relative_to(root))] = sha256(path)
            for record in read_jsonl(path):
                rows.append({"premise": record["premise"], "hypothesis": record["hypothesis"],
                             "label": record["label"], "set": name, "kind": split,
                             "id": f"{split}:{record['id']}"})
        seen = set()
        unique = []
        for row in rows:  # DocNLI FEVER repeats pairs between its dev and test: keep one
            key = (row["premise"], row["hypothesis"])
            if key not in seen:
                seen.add(key)
                unique.append(row)
        held += [r for r in unique if heldout(name, r["hypothesis"] + r["premise"][:200])]
        pool = [r for r in unique if not heldout(name, r["hypothesis"] + r["premise"][:200])]
        train += balanced_sample(pool, cap, rng)
    return train, held


def _dev_scifact_docs(root: Path) -> set[str]:
    path = root / "scifact-claims-dev" / "halu.jsonl"
    return {str(r.get("doc_id") or r["id"].split(":")[-1]) for r in read_jsonl(path)} if path.exists() else set()


def synthetic_rows(root: Path, samples: Path, manifest: dict, rng: random.Random) -> list[dict]:
    documents: list[tuple[str, str, str]] = []  # (set, doc id, text)
    excluded = _dev_scifact_docs(root)
    scifact = root / "scifact" / "corpus.jsonl"
    if scifact.exists():
        manifest["files"][str(scifact.relative_to(root))] = sha256(scifact)
        docs = [r for r in read_jsonl(scifact) if str(r["id"]) not in excluded]
        rng.shuffle(docs)
        documents += [("synthetic-scifact", str(r["id"]), r["text"]) for r in docs[:1500]]
    squad = root / "squad2-sample" / "corpus.jsonl"
    if squad.exists():
        manifest["files"][str(squad.relative_to(root))] = sha256(squad)
        documents += [("synthetic-squad", str(r["id"]), r["text"]) for r in read_jsonl(squad)]
    for path in sorted(samples.glob("*.md")) + sorted(samples.glob("*.txt")):
        documents.append(("synthetic-samples", path.name, path.read_text(encoding="utf-8", errors="replace")))
    names = sorted({m.group() for _, _, text in documents for m in synthetic.NAME.finditer(text)})
    rows: list[dict] = []
    for set_name, doc_id, text in documents:
        sentences = synthetic.split_sentences(text)
        for row in synthetic.pairs_from_document(sentences, names, rng, set_name):
            row["id"] = f"{doc_id}:{len(rows)}"
            rows.append(row)
    qa = root / "squad2-sample" / "qa.jsonl"
    qa_rows: list[dict] = []
    if qa.exists():
        manifest["files"][str(qa.relative_to(root))] = sha256(qa)
        contexts = {doc: text for r in read_jsonl(squad) for doc, text in [(str(r["id"]), r["text"])]} \
            if squad.exists() else {}
        for record in read_jsonl(qa):
            context = (record.get("reference_contexts") or [None])[0] or \
                contexts.get(str((record.get("source_doc_ids") or [""])[0]))
            if not context:
                continue
            spans = [m.group() for m in synthetic.NAME.finditer(context)] + synthetic.NUMBER.findall(context)
            made = synthetic.unanswerable_pairs(record["question"], context, spans, rng, "synthetic-squad-qa") \
                if record.get("is_impossible") else \
                synthetic.qa_pairs(record["question"], context, record["reference_answer"], spans, rng,
                                   "synthetic-squad-qa")
            for row in made:
                row["id"] = f"{record['id']}:{row['kind']}:{len(qa_rows)}"
                qa_rows.append(row)
    rng.shuffle(rows)
    # The question-and-answer pairs are few and the closest to a RAG answer: all of them are kept.
    return rows[:SYNTHETIC_CAP - len(qa_rows)] + qa_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--out", type=Path, default=Path(".verirag/training/entailment"))
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    root = args.datasets.resolve()
    if not (root / "nli").is_dir():
        raise SystemExit(f"no NLI data under {root}/nli: pass --datasets PATH (the shared datasets folder)")
    print(f"reading training data from {root} (not copied into the repository)")
    rng = random.Random(args.seed)
    manifest: dict = {"seed": args.seed, "datasets_root": str(args.datasets), "files": {}}
    train, held = nli_rows(root, manifest, rng)
    synth = synthetic_rows(root, args.samples, manifest, rng)
    synth_held = [r for r in synth if heldout("synthetic", r["id"])]
    train += [r for r in synth if not heldout("synthetic", r["id"])]
    # Question-and-answer pairs, the form of a short RAG answer, are few: each is seen QA_REPEAT times.
    train += [r for r in train if r["set"] == "synthetic-squad-qa"] * (QA_REPEAT - 1)
    held += synth_held
    rng.shuffle(train)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("heldout", held)):
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = collections.Counter((r["set"], r["label"]) for r in rows)
        manifest[name] = {f"{s}/{l}": n for (s, l), n in sorted(counts.items())}
        manifest[f"{name}_total"] = len(rows)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"train {len(train)} pairs, held out {len(held)} → {args.out}")


if __name__ == "__main__":
    main()
