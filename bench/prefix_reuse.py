"""How much of each follow-up prompt repeats the previous prompt's prefix (what a provider's prefix
cache can serve) over a five-turn session on one topic.

    .venv/bin/python bench/prefix_reuse.py                     # real retriever if ./.verirag has "demo"
    .venv/bin/python bench/prefix_reuse.py --no-store          # chunks of samples/*.md|txt|html
    .venv/bin/python bench/prefix_reuse.py --passages p.json   # your passages (a JSON list of Passage fields)

Passages come from the real Retriever over the ``demo`` collection when it exists and ``rag.retrieval``
imports; otherwise from ~200-token chunks of the sample documents ranked per question by BM25 (the
follow-up questions share a topic, so consecutive turns retrieve mostly the same passages and a few
new ones). Each turn's history holds the earlier questions and a short synthetic answer.

Two layouts are compared for each profile, the same passages in both:

* stable — sources sorted by (doc_id, char_start) every turn (``build_prompt`` without ``previous``);
* session — ``build_prompt(..., previous=last_turn)``: the previous turn's sources first in their
  previous order, new ones after, passages not retrieved again carried along while room allows.

Reuse = tokens of the longest common prefix of consecutive serialized prompts / tokens of the later
prompt (``rag.prompts.prefix_reuse``). Markdown on stdout (``--out`` also writes the numbers as JSON,
``--render JSON`` prints a saved result's markdown again); goal: mean of turns 2–5 ≥ 80 %.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import html
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import rag  # noqa: E402,F401  (offline environment first)
from bench.common import machine_info  # noqa: E402
from rag.profiles import resolve_profile  # noqa: E402
from rag.prompts import Prompt, build_prompt, passage_key, prefix_reuse, serialize_messages  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.prompt_tokens import tiktoken_counter, token_counter  # noqa: E402
from rag.types import Passage  # noqa: E402

QUESTIONS = [
    "What should the on-call engineer do when a TURB-OVERSPEED alarm fires?",
    "At what speed do Units 1 and 2 trip on overspeed?",
    "And Unit 3, at what speed does it trip?",
    "May the unit be restarted remotely after an overspeed trip?",
    "What severity is an overspeed trip, and who has to be told?",
]
PROFILES = ["deepseek-v4-flash", "local"]
GOAL_MEAN_REUSE = 0.8  # mean reuse over turns 2–5
CHUNK_TOKENS = 200


# -- passages without the store ---------------------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "br", "section", "dt", "dd"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def read_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm"):
        parser = _Text()
        parser.feed(raw)
        raw = html.unescape("".join(parser.parts))
        raw = re.sub(r"[ \t]+", " ", raw)
        raw = re.sub(r"\n\s*\n+", "\n\n", raw)
    return raw.strip()


def chunk_file(path: Path, count: Callable[[str], int]) -> list[Passage]:
    """Paragraph-packed chunks of about CHUNK_TOKENS tokens, with their character spans and section."""
    text = read_text(path)
    doc_id = hashlib.sha1(path.name.encode()).hexdigest()[:16]
    title = path.stem.replace("_", " ").title()
    passages: list[Passage] = []
    section = ""
    pieces: list[tuple[int, int]] = []
    tokens = 0

    def flush() -> None:
        nonlocal pieces, tokens
        if pieces:
            s, e = pieces[0][0], pieces[-1][1]
            passages.append(Passage(label="", doc_id=doc_id, text=text[s:e], source=str(path.relative_to(REPO)),
                                    title=title, section_path=(section,) if section else (), pages=(),
                                    char_start=s, char_end=e, chunk_indexes=(len(passages),)))
        pieces, tokens = [], 0

    for match in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]*)*", text):
        para = match.group(0)
        if not para.strip():
            continue
        heading = re.match(r"#{1,6}\s+(.*)", para)
        n = count(para)
        if heading or (tokens and tokens + n > CHUNK_TOKENS):
            flush()
        if heading:
            section = heading.group(1).strip()
        pieces.append((match.start(), match.end()))
        tokens += n
    flush()
    return passages


def sample_passages(count: Callable[[str], int]) -> list[Passage]:
    files = sorted(p for p in (REPO / "samples").iterdir() if p.suffix.lower() in (".md", ".txt", ".html"))
    return [p for f in files if f.name.lower() != "readme.md" for p in chunk_file(f, count)]


def load_passages(path: Path) -> list[Passage]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, item in enumerate(data):
        item = dict(item)
        item.setdefault("label", "")
        for key in ("section_path", "pages", "chunk_indexes"):
            item[key] = tuple(item.get(key) or ())
        item.setdefault("source", item.get("doc_id", f"p{i}"))
        item.setdefault("title", "")
        item.setdefault("char_start", 0)
        item.setdefault("char_end", item["char_start"] + len(item["text"]))
        out.append(Passage(**item))
    return out


class BM25:
    def __init__(self, passages: Sequence[Passage], k1: float = 1.2, b: float = 0.75):
        self.passages = list(passages)
        self.docs = [Counter(self._words(f"{p.title} {' '.join(p.section_path)} {p.text}")) for p in self.passages]
        self.avg = sum(sum(d.values()) for d in self.docs) / max(1, len(self.docs))
        df = Counter(w for d in self.docs for w in d)
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self.k1, self.b = k1, b

    @staticmethod
    def _words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+(?:[.-][a-z0-9]+)*", text.lower())

    def __call__(self, question: str, k: int) -> list[Passage]:
        terms = set(self._words(question))
        scored = []
        for index, (passage, doc) in enumerate(zip(self.passages, self.docs)):
            length = sum(doc.values())
            score = sum(
                self.idf.get(t, 0.0) * doc[t] * (self.k1 + 1)
                / (doc[t] + self.k1 * (1 - self.b + self.b * length / self.avg))
                for t in terms if t in doc
            )
            scored.append((score, -index, passage))
        scored.sort(reverse=True)
        return [p for score, _, p in scored[:k] if score > 0]


# -- the real retriever -------------------------------------------------------------------------------


def store_retriever(collection: str, k: int):
    """(retrieve, close, note) over the embedded collection, or (None, None, why not)."""
    try:
        settings = Settings()
    except Exception as error:  # a broken verirag.toml
        return None, None, f"settings unreadable ({error})"
    if settings.qdrant_url is None and not (settings.collections_dir / collection).is_dir():
        return None, None, f"no collection {collection!r} under {settings.collections_dir}"
    try:
        from rag.retrieval import retriever_for
        from rag.store import open_store
    except Exception as error:
        return None, None, f"rag.retrieval not importable ({type(error).__name__}: {error})"
    try:
        store = open_store(settings, collection)
        retriever = retriever_for(settings, store)
    except Exception as error:
        return None, None, f"store not usable ({type(error).__name__}: {error})"
    return (lambda q: retriever.retrieve(q, top_k=k)), store.close, \
        f"the real Retriever over collection {collection!r} (top {k})"


# -- the session --------------------------------------------------------------------------------------


def synthetic_answer(prompt: Prompt, question: str) -> str:
    if not prompt.passages:
        return "The sources do not contain the answer."
    words = prompt.passages[0].text.split()[:40]
    return f"{' '.join(words)} [{prompt.passages[0].label}]"


def run_session(profile_name: str, retrieved: list[list[Passage]], questions: Sequence[str]) -> dict:
    profile = resolve_profile(profile_name, Settings())
    count = token_counter(profile)
    rows = []
    layouts = {"stable": None, "session": None}
    histories: dict[str, list[dict]] = {"stable": [], "session": []}
    for turn, (question, passages) in enumerate(zip(questions, retrieved), start=1):
        row = {"turn": turn}
        for layout in layouts:
            previous = layouts[layout]
            prompt = build_prompt(profile, passages, question, histories[layout],
                                  previous=previous if layout == "session" else None)
            if layout == "session" and previous is not None:
                # Ceiling for any layout (e.g. append-only: new sources beside the new question): all of
                # the previous prompt plus its answer reused, only this turn's new text not.
                answer = histories[layout][-1:]
                before = count(serialize_messages([*previous.messages, *answer]))
                row["ceiling"] = min(1.0, before / max(1, count(serialize_messages(prompt.messages))))
            row[layout] = {
                "passages": len(prompt.passages),
                "dropped": prompt.dropped,
                "carried": prompt.carried,
                "tokens": prompt.prompt_tokens,
                "reuse": prefix_reuse(previous.messages, prompt.messages, count) if previous else None,
            }
            histories[layout] = histories[layout] + [
                {"role": "user", "content": question},
                {"role": "assistant", "content": synthetic_answer(prompt, question)},
            ]
            layouts[layout] = prompt
        rows.append(row)
    means = {
        layout: sum(r[layout]["reuse"] for r in rows[1:]) / max(1, len(rows) - 1) for layout in layouts
    }
    means["ceiling"] = sum(r["ceiling"] for r in rows[1:]) / max(1, len(rows) - 1)
    return {"profile": profile, "rows": rows, "means": means}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def run(args: argparse.Namespace) -> dict:
    """Retrieve for every turn, then replay the session per profile: the numbers, no formatting."""
    machine = machine_info()  # before the clock starts: importing torch is not the benchmark
    started = time.perf_counter()
    retrieve, close, note = (None, None, "--no-store")
    if args.passages is None and not args.no_store:
        retrieve, close, note = store_retriever(args.collection, args.top_k)
    passages_from = "retriever" if retrieve is not None else "bm25"
    if retrieve is None:
        why = note
        if args.passages is not None:
            corpus = load_passages(args.passages)
            note = f"BM25 over {len(corpus)} passages from {args.passages} (top {args.top_k})"
        else:
            corpus = sample_passages(tiktoken_counter("cl100k_base"))
            note = f"BM25 over {len(corpus)} ~{CHUNK_TOKENS}-token chunks of samples/*.md|txt|html (top {args.top_k})"
        if why and args.passages is None and why != "--no-store":
            note += f"; real retriever skipped: {why}"
        bm25 = BM25(corpus)
        retrieve = lambda q: bm25(q, args.top_k)  # noqa: E731
    try:
        retrieved = [list(retrieve(q)) for q in QUESTIONS]
    finally:
        if close is not None:
            close()

    turns = []
    before: set = set()
    for turn, (question, passages) in enumerate(zip(QUESTIONS, retrieved), start=1):
        keys = {passage_key(p) for p in passages}
        turns.append({"turn": turn, "question": question, "retrieved": len(passages),
                      "new": len(keys - before) if turn > 1 else None})
        before = keys

    profiles = []
    for name in args.profiles:
        session = run_session(name, retrieved, QUESTIONS)
        profile = session["profile"]
        profiles.append({"name": name, "context_window": profile.context_window,
                         "max_output_tokens": profile.max_output_tokens, "tokenizer": profile.tokenizer,
                         "rows": session["rows"], "means": session["means"]})
    return {
        "benchmark": "prefix_reuse",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "passages": note,
        "passages_from": passages_from,
        "top_k": args.top_k,
        "turns": turns,
        "profiles": profiles,
        "goal": {"mean_reuse_turns_2_5": GOAL_MEAN_REUSE},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine,
    }


def render_markdown(result: dict) -> str:
    """The markdown this script prints, from the JSON it writes."""
    goal = result["goal"]["mean_reuse_turns_2_5"]
    lines = ["# Prefix reuse over a five-turn session", "", f"Passages: {result['passages']}.", "",
             "| turn | question | retrieved | new vs previous turn |", "|---:|---|---:|---:|"]
    for turn in result["turns"]:
        new = "—" if turn["new"] is None else turn["new"]
        lines.append(f"| {turn['turn']} | {turn['question']} | {turn['retrieved']} | {new} |")
    lines.append("")

    for profile in result["profiles"]:
        lines += [f"## {profile['name']} (context {profile['context_window']:,}, max output "
                  f"{profile['max_output_tokens']:,}, tokenizer {profile['tokenizer']})", "",
                  "| turn | stable: sources | stable: tokens | stable: reuse | session: sources (carried) "
                  "| session: tokens | session: reuse | ceiling |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in profile["rows"]:
            s, t = row["stable"], row["session"]
            lines.append(f"| {row['turn']} | {s['passages']} | {s['tokens']:,} | {pct(s['reuse'])} | "
                         f"{t['passages']} ({t['carried']}) | {t['tokens']:,} | {pct(t['reuse'])} | "
                         f"{pct(row.get('ceiling'))} |")
        means = profile["means"]
        lines += ["", f"Mean reuse, turns 2–5: stable {pct(means['stable'])}, session {pct(means['session'])} "
                  f"(ceiling {pct(means['ceiling'])}: the whole previous prompt and answer reused, only new text not).",
                  ""]

    lines += [f"## Summary (goal: mean of turns 2–5 ≥ {100 * goal:.0f} %)", "",
              "| profile | stable order | session order (`previous=`) | ceiling (any layout) |", "|---|---:|---:|---:|"]
    for profile in result["profiles"]:
        means = profile["means"]
        marks = {k: ("✓" if v >= goal else "✗") for k, v in means.items()}
        lines.append(f"| {profile['name']} | {pct(means['stable'])} {marks['stable']} | {pct(means['session'])} "
                     f"{marks['session']} | {pct(means['ceiling'])} |")
    lines += ["", f"_{result['seconds']:.1f} s._"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", default="demo")
    parser.add_argument("--no-store", action="store_true", help="skip the real retriever")
    parser.add_argument("--passages", type=Path, help="JSON list of passages to rank instead of the samples")
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--profiles", nargs="+", default=PROFILES)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="print the markdown for a saved result and exit")
    args = parser.parse_args(argv)

    if args.render is not None:
        print(render_markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    result = run(args)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
