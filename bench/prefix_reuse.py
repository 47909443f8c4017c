"""How much of each follow-up prompt repeats the previous prompt's prefix (what a provider's prefix
cache can serve) over a five-turn session on one topic and a ten-turn one over two documents.

    .venv/bin/python bench/prefix_reuse.py                     # real retriever if ./.verirag has "demo"
    .venv/bin/python bench/prefix_reuse.py --no-store          # chunks of samples/*.md|txt|html
    .venv/bin/python bench/prefix_reuse.py --passages p.json   # your passages (a JSON list of Passage fields)

Passages come from the real Retriever over the ``demo`` collection when it exists and ``rag.retrieval``
imports; otherwise from ~200-token chunks of the sample documents ranked per question by BM25 (the
follow-up questions share a topic, so consecutive turns retrieve mostly the same passages and a few
new ones). Each turn's history holds the earlier questions and a short synthetic answer.

Three layouts are compared for each profile:

* stable — sources sorted by (doc_id, char_start) every turn (``build_prompt`` without ``previous``);
* session — ``build_prompt(..., previous=last_turn)``: the previous turn's sources first in their
  previous order, new ones after, passages not retrieved again carried along while room allows;
* chat — a conversation (``rag.conversation.ChatLayout``): each turn appends its new sources and the
  question after the previous answer, names passages already sent by label; retrieval searches the
  follow-up rewritten from the history (``rag.followup``). The first two get the same passages.

Reuse = tokens of the longest common prefix of consecutive serialized prompts / tokens of the later
prompt (``rag.prompts.prefix_reuse``), per turn; the goal reads the share of all prompt tokens from
turn 2 on that repeat the previous prompt (reused tokens / prompt tokens, summed over turns 2–N: what
a bill's cache-hit share is): ≥ 90 %. Quality: for each turn, whether the passage that answers it (a
phrase it must contain) is in the prompt, and whether this turn's retrieval found it. Follow-ups: the
recall of each scripted follow-up's passage retrieved with the question as asked and rewritten.
Markdown on stdout (``--out`` also writes the numbers as JSON, ``--render JSON`` prints a saved
result's markdown again).
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
from rag.conversation import ChatLayout, Conversation  # noqa: E402
from rag.followup import rewrite_follow_up  # noqa: E402
from rag.profiles import resolve_profile  # noqa: E402
from rag.prompts import Prompt, build_prompt, passage_key, prefix_reuse, serialize_messages  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.prompt_tokens import tiktoken_counter, token_counter  # noqa: E402
from rag.types import Passage  # noqa: E402

# (question, a phrase of the passage that answers it)
SESSION = [
    ("What should the on-call engineer do when a TURB-OVERSPEED alarm fires?", "restart the unit remotely"),
    ("At what speed do Units 1 and 2 trip on overspeed?", "345 rpm"),
    ("And Unit 3, at what speed does it trip?", "287.5 rpm"),
    ("May the unit be restarted remotely after an overspeed trip?", "restart the unit remotely"),
    ("What severity is an overspeed trip, and who has to be told?", "classify the event as SEV2"),
]
QUESTIONS = [question for question, _ in SESSION]
LONG_SESSION = [
    ("How does the on-call rotation work?", "Handover happens every"),
    ("How quickly must a page be acknowledged?", "within 15 minutes"),
    ("And if nobody acknowledges it?", "the page goes to the Operations Lead"),
    ("What is the on-call allowance on a Saturday?", "EUR 90"),
    ("And on a weekday?", "EUR 45"),
    ("How is time worked on a call-out paid?", "1.5 times the normal hourly rate"),
    ("What is the minimum payment for it?", "at least 2 hours"),
    ("How much rest is an engineer owed after a call-out after midnight?", "11 hours of rest"),
    ("How many days in a row may someone be on call?", "7 days in a row"),
    ("Who has to approve a swap of rota weeks?", "approved by the Operations Lead"),
]
# Scripted follow-ups (a small set, written for the sample documents): the previous question and answer,
# the follow-up, and a phrase of the passage that answers it.
FOLLOW_UPS = [
    ("Which unit is the Kaplan unit?", "Unit 3 is the Kaplan unit, rated at 6 MW [S1].",
     "At what speed does it trip?", "287.5 rpm"),
    ("Which alarms does the on-call runbook cover?",
     "1. TURB-OVERSPEED\n2. RESERVOIR-HIGH\n3. HV-BREAKER-TRIP\n4. TELEMETRY-STALE [S1]",
     "What do I do for the second one?", "spillway gate 1"),
    ("Which alarms does the on-call runbook cover?",
     "1. TURB-OVERSPEED\n2. RESERVOIR-HIGH\n3. HV-BREAKER-TRIP\n4. TELEMETRY-STALE [S1]",
     "And the third one?", "grid operator"),
    ("What is the RL-50?", "The RL-50 is a small run-of-river microturbine rated at 50 kW [S1].",
     "How loud is it?", "62 dB(A)"),
    ("What is the RL-50?", "The RL-50 is a small run-of-river microturbine rated at 50 kW [S1].",
     "What is its warranty?", "5 years on the turbine"),
    ("What changed in HydroView 3.3.0?", "Overspeed thresholds can be set per unit and legacy SMS paging was "
     "removed [S1].", "When was it released?", "10 June 2024"),
    ("What does the TELEMETRY-STALE alarm mean?", "No data has arrived from an RTU for 5 minutes [S1].",
     "Which release added it?", "New alarm TELEMETRY-STALE"),
    ("Who is the Operations Lead?", "Marek Novak is the Operations Lead [S1].",
     "When must he be phoned?", "reported to the Operations Lead by phone"),
    ("What is the on-call allowance on a Saturday?", "EUR 90 per day [S1].",
     "And on a weekday?", "EUR 45"),
    ("How is time worked on a call-out paid?", "At 1.5 times the normal hourly rate [S1].",
     "What is the minimum payment for it?", "at least 2 hours"),
    ("Which Northwind Hydro documents cover on-call duty?",
     "The HydroView On-Call Runbook and the On-Call and Call-Out Pay Policy HR-07 [S1][S2].",
     "Who owns the second one?", "Sofia Lindqvist"),
    ("What does the HV-BREAKER-TRIP alarm mean?", "The 33 kV breaker has opened [S1].",
     "What must I do before re-closing it?", "grid operator"),
]
PROFILES = ["deepseek-v4-flash", "local"]
GOAL_REUSE = 0.9  # share of prompt tokens from turn 2 on that repeat the previous prompt (chat layout)
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


def synthetic_answer(prompt: Prompt, phrase: str) -> str:
    """A short cited answer, as a model that found the answering passage would give: about 40 words of it
    from the answering phrase on (the same in every layout); the abstention when it is not there."""
    for passage in prompt.passages:
        text = " ".join(passage.text.replace("*", "").split())
        at = text.lower().find(_plain(phrase))
        if at >= 0:
            start = text.rfind(". ", 0, at) + 1 if text.rfind(". ", 0, at) >= 0 else 0
            return f"{' '.join(text[start:].split()[:40])} [{passage.label}]."
    return "The sources do not contain the answer."


def _plain(text: str) -> str:
    return " ".join(text.replace("*", "").split()).lower()


def relevant(passages: Sequence[Passage], phrase: str) -> bool:
    """Whether one of the passages holds the phrase (markdown emphasis and spacing ignored)."""
    needle = _plain(phrase)
    return any(needle in _plain(p.text) for p in passages)


def run_session(profile_name: str, retrieved: list[list[Passage]], session: Sequence[tuple[str, str]],
                retrieve: Callable[[str], list[Passage]] | None = None) -> dict:
    """Each layout over the session. ``retrieved``: each question's passages as asked (stable, session);
    the chat layout retrieves each question rewritten from its own history with ``retrieve``."""
    profile = resolve_profile(profile_name, Settings())
    count = token_counter(profile)
    rows = []
    layouts: dict[str, Prompt | None] = {"stable": None, "session": None, "chat": None}
    histories: dict[str, list[dict]] = {layout: [] for layout in layouts}
    conversation = Conversation()
    for turn, ((question, phrase), passages) in enumerate(zip(session, retrieved), start=1):
        row: dict = {"turn": turn}
        for layout in layouts:
            previous = layouts[layout]
            extra: dict = {}
            if layout == "chat":
                search = rewrite_follow_up(question, conversation.history())
                found = list(retrieve(search)) if retrieve is not None and search != question else passages
                chat = ChatLayout(conversation, search=search if search != question else None)
                prompt = chat.prompt(profile, found, question)
                planned = chat.planned
                extra = {"search": search if search != question else None, "sent": len(planned.sources),
                         "named": len(planned.given_before), "dropped_turns": planned.dropped_turns,
                         "retrieved_relevant": relevant(found, phrase), "top3_relevant": relevant(found[:3], phrase)}
            else:
                prompt = build_prompt(profile, passages, question, histories[layout],
                                      previous=previous if layout == "session" else None)
                extra = {"retrieved_relevant": relevant(passages, phrase),
                         "top3_relevant": relevant(passages[:3], phrase)}
            if layout == "session" and previous is not None:
                # Ceiling for the sources-in-system layouts: all of the previous prompt plus its answer.
                answer = histories[layout][-1:]
                before = count(serialize_messages([*previous.messages, *answer]))
                row["ceiling"] = min(1.0, before / max(1, count(serialize_messages(prompt.messages))))
            reuse = prefix_reuse(previous.messages, prompt.messages, count) if previous else None
            tokens = count(serialize_messages(prompt.messages))
            row[layout] = {
                "passages": len(prompt.passages),
                "dropped": prompt.dropped,
                "carried": prompt.carried,
                "tokens": prompt.prompt_tokens,
                "reuse": reuse,
                "serialized_tokens": tokens,
                "reused_tokens": round(reuse * tokens) if reuse is not None else 0,
                "relevant_in_prompt": relevant(prompt.passages, phrase),
                **extra,
            }
            answer = synthetic_answer(prompt, phrase)
            histories[layout] = histories[layout] + [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
            if layout == "chat":
                conversation = chat.record(answer)
            layouts[layout] = prompt
        rows.append(row)
    later = rows[1:]
    means = {layout: sum(r[layout]["reuse"] for r in later) / max(1, len(later)) for layout in layouts}
    means["ceiling"] = sum(r["ceiling"] for r in later) / max(1, len(later))
    weighted = {layout: sum(r[layout]["reused_tokens"] for r in later)
                / max(1, sum(r[layout]["serialized_tokens"] for r in later)) for layout in layouts}
    # What the session's prompts cost at the profile's prices, the reused prefix billed as cache hits.
    cost = {layout: sum(((r[layout]["serialized_tokens"] - r[layout]["reused_tokens"]) * profile.price_input_per_m
                         + r[layout]["reused_tokens"] * profile.price_cached_input_per_m) / 1e6 for r in rows)
            for layout in layouts}
    quality = {layout: {"in_prompt": sum(r[layout]["relevant_in_prompt"] for r in rows),
                        "retrieved": sum(r[layout]["retrieved_relevant"] for r in rows),
                        "top3": sum(r[layout]["top3_relevant"] for r in rows), "of": len(rows)}
               for layout in layouts}
    return {"profile": profile, "rows": rows, "means": means, "weighted": weighted, "quality": quality,
            "input_cost_usd": cost}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def follow_up_recall(retrieve: Callable[[str], list[Passage]], k_small: int) -> dict:
    """Recall of each scripted follow-up's passage, retrieved with the question as asked and rewritten."""
    items = []
    for previous_question, previous_answer, question, phrase in FOLLOW_UPS:
        history = [{"role": "user", "content": previous_question}, {"role": "assistant", "content": previous_answer}]
        rewritten = rewrite_follow_up(question, history)
        raw, better = list(retrieve(question)), list(retrieve(rewritten))
        items.append({"question": question, "rewritten": rewritten, "phrase": phrase,
                      "raw_small": relevant(raw[:k_small], phrase), "raw_k": relevant(raw, phrase),
                      "rewritten_small": relevant(better[:k_small], phrase), "rewritten_k": relevant(better, phrase)})
    totals = {key: sum(item[key] for item in items) for key in ("raw_small", "raw_k", "rewritten_small", "rewritten_k")}
    return {"items": items, "totals": totals, "of": len(items), "k_small": k_small}


def _turns(session: Sequence[tuple[str, str]], retrieved: list[list[Passage]]) -> list[dict]:
    turns = []
    before: set = set()
    for turn, ((question, _), passages) in enumerate(zip(session, retrieved), start=1):
        keys = {passage_key(p) for p in passages}
        turns.append({"turn": turn, "question": question, "retrieved": len(passages),
                      "new": len(keys - before) if turn > 1 else None})
        before = keys
    return turns


def run(args: argparse.Namespace) -> dict:
    """Retrieve for every turn, then replay the sessions per profile: the numbers, no formatting."""
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
    cache: dict[str, list[Passage]] = {}

    def cached(question: str) -> list[Passage]:
        if question not in cache:
            cache[question] = list(retrieve(question))
        return cache[question]

    sets = []
    try:
        for name, session in (("five", SESSION), ("ten", LONG_SESSION)):
            retrieved = [cached(q) for q, _ in session]
            profiles = []
            for profile_name in args.profiles:
                replay = run_session(profile_name, retrieved, session, cached)
                profile = replay["profile"]
                profiles.append({"name": profile_name, "context_window": profile.context_window,
                                 "max_output_tokens": profile.max_output_tokens, "tokenizer": profile.tokenizer,
                                 "rows": replay["rows"], "means": replay["means"], "weighted": replay["weighted"],
                                 "quality": replay["quality"], "input_cost_usd": replay["input_cost_usd"]})
            sets.append({"name": name, "turns": _turns(session, retrieved), "profiles": profiles})
        follow_ups = follow_up_recall(cached, min(3, args.top_k))
    finally:
        if close is not None:
            close()
    return {
        "benchmark": "prefix_reuse",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "passages": note,
        "passages_from": passages_from,
        "top_k": args.top_k,
        "turns": sets[0]["turns"],
        "profiles": sets[0]["profiles"],
        "sets": sets,
        "follow_ups": follow_ups,
        "goal": {"reuse_share_from_turn_2": GOAL_REUSE},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine,
    }


def _mark(value: float, goal: float) -> str:
    return "✓" if value >= goal else "✗"


def _render_set(result: dict, turn_set: dict) -> list[str]:
    n = len(turn_set["turns"])
    lines = [f"### {n}-turn session", "",
             "| turn | question | retrieved | new vs previous turn | chat: retrieval query (rewritten) |",
             "|---:|---|---:|---:|---|"]
    chat_rows = turn_set["profiles"][0]["rows"] if turn_set["profiles"] else []
    for turn, row in zip(turn_set["turns"], chat_rows):
        new = "—" if turn["new"] is None else turn["new"]
        search = row["chat"].get("search") or "as asked"
        lines.append(f"| {turn['turn']} | {turn['question']} | {turn['retrieved']} | {new} | {search} |")
    lines.append("")
    for profile in turn_set["profiles"]:
        lines += [f"#### {profile['name']} (context {profile['context_window']:,}, max output "
                  f"{profile['max_output_tokens']:,}, tokenizer {profile['tokenizer']})", "",
                  "| turn | stable: tokens | stable: reuse | session: sources (carried) | session: tokens "
                  "| session: reuse | chat: sources (sent, named) | chat: tokens | chat: reuse |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in profile["rows"]:
            s, t, c = row["stable"], row["session"], row["chat"]
            drop = f", {c['dropped_turns']} turns dropped" if c.get("dropped_turns") else ""
            lines.append(f"| {row['turn']} | {s['tokens']:,} | {pct(s['reuse'])} | {t['passages']} ({t['carried']}) | "
                         f"{t['tokens']:,} | {pct(t['reuse'])} | {c['passages']} ({c['sent']}, {c['named']}{drop}) | "
                         f"{c['tokens']:,} | {pct(c['reuse'])} |")
        means, weighted, quality = profile["means"], profile["weighted"], profile["quality"]
        lines += ["", f"Reuse from turn 2 on, share of prompt tokens (mean of turns): stable {pct(weighted['stable'])} "
                  f"({pct(means['stable'])}), session {pct(weighted['session'])} ({pct(means['session'])}), "
                  f"chat {pct(weighted['chat'])} ({pct(means['chat'])}).",
                  *(["Input cost of the session's prompts at the profile's prices (reused prefix as cache hits): "
                     + ", ".join(f"{layout} ${value:.5f}" for layout, value in profile["input_cost_usd"].items())
                     + "."] if profile.get("input_cost_usd") and any(profile["input_cost_usd"].values()) else []),
                  "", "Each turn's answering passage — in the prompt / retrieved by that turn / in its top 3: "
                  + ", ".join(f"{layout} {q['in_prompt']}/{q['of']} / {q['retrieved']}/{q['of']} / "
                              f"{q.get('top3', '—')}/{q['of']}" for layout, q in quality.items()) + ".", ""]
    return lines


def render_markdown(result: dict) -> str:
    """The markdown this script prints, from the JSON it writes."""
    goal = result["goal"].get("reuse_share_from_turn_2", 0.9)
    lines = ["# Prefix reuse over a conversation", "", f"Passages: {result['passages']}.", ""]
    sets = result.get("sets") or [{"name": "five", "turns": result["turns"], "profiles": result["profiles"]}]
    for turn_set in sets:
        lines += _render_set(result, turn_set)
    follow = result.get("follow_ups")
    if follow:
        k, small, totals = result["top_k"], follow["k_small"], follow["totals"]
        lines += [f"### Follow-up rewriting ({follow['of']} scripted follow-ups: a small set)", "",
                  f"| follow-up | retrieval query | as asked: top {small} / top {k} "
                  f"| rewritten: top {small} / top {k} |",
                  "|---|---|---:|---:|"]
        yes = {True: "✓", False: "✗"}
        for item in follow["items"]:
            query = item["rewritten"] if item["rewritten"] != item["question"] else "(unchanged)"
            lines.append(f"| {item['question']} | {query} | {yes[item['raw_small']]} / {yes[item['raw_k']]} | "
                         f"{yes[item['rewritten_small']]} / {yes[item['rewritten_k']]} |")
        lines += ["", f"Recall of the answering passage: as asked {totals['raw_small']}/{follow['of']} (top {small}), "
                  f"{totals['raw_k']}/{follow['of']} (top {k}); rewritten {totals['rewritten_small']}/{follow['of']} "
                  f"(top {small}), {totals['rewritten_k']}/{follow['of']} (top {k}).", ""]
    lines += [f"### Summary (goal: ≥ {100 * goal:.0f} % of prompt tokens from turn 2 on reused)", "",
              "| session | profile | stable order | session order (`previous=`) | chat layout (conversation) |",
              "|---|---|---:|---:|---:|"]
    for turn_set in sets:
        for profile in turn_set["profiles"]:
            weighted = profile.get("weighted") or profile["means"]
            cells = " | ".join(f"{pct(weighted[layout])} {_mark(weighted[layout], goal)}" if layout in weighted else "—"
                               for layout in ("stable", "session", "chat"))
            lines.append(f"| {len(turn_set['turns'])} turns | {profile['name']} | {cells} |")
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
