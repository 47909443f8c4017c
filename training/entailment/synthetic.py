"""Synthetic claim/evidence pairs built by code from plain corpora.

Each generator takes one sentence of a document (and its neighbours) and returns a labelled pair or
``None`` when the sentence gives it nothing to work with:

- supported: the sentence against its window of neighbours, as is or compressed (a parenthesis or a
  trailing clause dropped);
- contradicted: a number or year changed, a negation added or removed, a word replaced by its antonym
  ("increases" → "decreases"), a name replaced by another name of the corpus, two numbers swapped;
- not supported: a sentence of the same document from outside the window, or the sentence with an added
  detail that the window does not state.

The contradictions are the cases similarity cannot see and the verifier exists to catch.
"""

from __future__ import annotations

import random
import re
from typing import Iterator

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(?![\w])")
YEAR = re.compile(r"\b(1[89]\d\d|20[0-4]\d)\b")
NAME = re.compile(r"(?<=[a-z,;] )([A-Z][a-z]+(?: [A-Z][a-z]+)*)")

ANTONYM_PAIRS = [
    ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"),
    ("increasing", "decreasing"), ("higher", "lower"), ("more", "less"), ("greater", "smaller"),
    ("larger", "smaller"), ("longer", "shorter"), ("earlier", "later"), ("before", "after"),
    ("positive", "negative"), ("positively", "negatively"), ("reduced", "elevated"),
    ("reduces", "raises"), ("promotes", "inhibits"), ("activates", "suppresses"),
    ("upregulated", "downregulated"), ("up-regulated", "down-regulated"), ("improved", "worsened"),
    ("improves", "worsens"), ("gain", "loss"), ("maximum", "minimum"), ("first", "last"),
    ("major", "minor"), ("present", "absent"), ("high", "low"), ("rise", "fall"), ("rises", "falls"),
    ("rose", "fell"), ("won", "lost"), ("strong", "weak"), ("stronger", "weaker"), ("north", "south"),
    ("east", "west"), ("accept", "reject"), ("accepted", "rejected"), ("allowed", "forbidden"),
    ("required", "optional"), ("enabled", "disabled"), ("always", "never"), ("all", "no"),
    ("success", "failure"), ("successful", "unsuccessful"), ("safe", "unsafe"), ("open", "closed"),
    ("benefit", "harm"), ("protective", "harmful"), ("efficacy", "inefficacy"), ("younger", "older"),
    ("faster", "slower"), ("better", "worse"), ("above", "below"), ("inside", "outside"),
    ("enhanced", "impaired"), ("enhances", "impairs"), ("common", "rare"), ("significant", "insignificant"),
]
ANTONYMS = {a: b for a, b in ANTONYM_PAIRS} | {b: a for a, b in ANTONYM_PAIRS}
NEGATABLE = re.compile(r"\b(is|are|was|were|can|could|will|would|should|has been|have been|had been|does|do|did)\b")
NEGATED = re.compile(r"\b(is|are|was|were|does|do|did|has|have|had|could|would|should|will) not\b|\b(cannot|no longer)\b")
ADDED_DETAILS = [
    " in 1987", " in children under five", " according to a 2019 survey", " in most European countries",
    " after two years of treatment", " only in women", " during the winter months", " in rural areas",
    ", as confirmed by a later trial", " for the second time", " at twice the usual dose",
    ", mainly because of rising costs", " in the United States", " since the early 1990s",
]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(" ".join(text.split())) if 6 <= len(s.split()) <= 60]


def _match_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def change_number(sentence: str, rng: random.Random) -> str | None:
    years = list(YEAR.finditer(sentence))
    if years and rng.random() < 0.5:
        m = rng.choice(years)
        new = str(int(m.group()) + rng.choice([-7, -3, -2, 2, 4, 11]))
        return sentence[: m.start()] + new + sentence[m.end():]
    numbers = [m for m in NUMBER.finditer(sentence) if not YEAR.fullmatch(m.group())]
    if not numbers:
        return None
    m = rng.choice(numbers)
    raw = m.group().replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    factor = rng.choice([0.5, 2.0, 3.0, 0.25, 1.5, 10.0])
    new_value = value * factor if value else rng.choice([3, 7, 12])
    new = f"{new_value:.{len(raw.split('.')[1])}f}" if "." in raw else str(int(round(new_value)))
    if new == m.group():
        new = str(int(float(raw)) + 1)
    return sentence[: m.start()] + new + sentence[m.end():]


def swap_numbers(sentence: str, rng: random.Random) -> str | None:
    numbers = list(NUMBER.finditer(sentence))
    distinct = {m.group() for m in numbers}
    if len(numbers) < 2 or len(distinct) < 2:
        return None
    a, b = rng.sample(numbers, 2)
    if a.group() == b.group():
        return None
    first, second = sorted((a, b), key=lambda m: m.start())
    return (sentence[: first.start()] + second.group() + sentence[first.end(): second.start()]
            + first.group() + sentence[second.end():])


def toggle_negation(sentence: str, rng: random.Random) -> str | None:
    negated = list(NEGATED.finditer(sentence))
    if negated:
        m = rng.choice(negated)
        if m.group(2):
            repl = {"cannot": "can", "no longer": "still"}[m.group(2).lower()]
            return sentence[: m.start()] + _match_case(repl, m.group()) + sentence[m.end():]
        return sentence[: m.start()] + m.group(1) + sentence[m.end():]
    if re.search(r"\bno significant\b", sentence):
        return re.sub(r"\bno significant\b", "a significant", sentence, count=1)
    if re.search(r"\bdid not differ\b", sentence):
        return sentence.replace("did not differ", "differed", 1)
    candidates = list(NEGATABLE.finditer(sentence))
    if not candidates:
        return None
    m = candidates[0]
    word = m.group()
    repl = "cannot" if word.lower() == "can" else (
        word.replace(" been", " not been") if " been" in word else f"{word} not")
    return sentence[: m.start()] + repl + sentence[m.end():]


def flip_antonym(sentence: str, rng: random.Random) -> str | None:
    words = list(re.finditer(r"[A-Za-z-]+", sentence))
    hits = [m for m in words if m.group().lower() in ANTONYMS]
    if not hits:
        return None
    m = rng.choice(hits)
    new = _match_case(ANTONYMS[m.group().lower()], m.group())
    return sentence[: m.start()] + new + sentence[m.end():]


def replace_name(sentence: str, names: list[str], rng: random.Random) -> str | None:
    found = list(NAME.finditer(sentence))
    if not found or not names:
        return None
    m = rng.choice(found)
    other = rng.choice(names)
    if other == m.group() or other in sentence:
        return None
    return sentence[: m.start()] + other + sentence[m.end():]


def compress(sentence: str) -> str:
    shorter = re.sub(r"\s*\([^)]*\)", "", sentence)
    if shorter != sentence:
        return shorter
    head, sep, _ = sentence.partition(", which")
    if sep and len(head.split()) >= 6:
        return head.rstrip(",") + "."
    return sentence


def add_detail(sentence: str, rng: random.Random) -> str:
    body = sentence.rstrip(".")
    return body + rng.choice(ADDED_DETAILS) + "."


def pairs_from_document(sentences: list[str], names: list[str], rng: random.Random,
                        source: str) -> Iterator[dict]:
    """Labelled pairs from one document's sentences (at most a few per sentence, chosen at random)."""
    for i, sentence in enumerate(sentences):
        lo, hi = max(0, i - rng.choice([0, 1, 2])), min(len(sentences), i + 1 + rng.choice([0, 1, 2]))
        window = " ".join(sentences[lo:hi])
        roll = rng.random()
        if roll < 0.25:
            claim = compress(sentence) if rng.random() < 0.5 else sentence
            yield _pair(window, claim, "entailment", source, "supported")
        elif roll < 0.7:
            makers = [("number", lambda s: change_number(s, rng)), ("negation", lambda s: toggle_negation(s, rng)),
                      ("antonym", lambda s: flip_antonym(s, rng)), ("swap", lambda s: swap_numbers(s, rng)),
                      ("name", lambda s: replace_name(s, names, rng))]
            rng.shuffle(makers)
            for kind, make in makers:
                changed = make(sentence)
                if changed and changed != sentence:
                    yield _pair(window, changed, "contradiction", source, kind)
                    break
        else:
            outside = [s for j, s in enumerate(sentences) if j < lo - 1 or j > hi]
            if outside and rng.random() < 0.5:
                yield _pair(window, rng.choice(outside), "neutral", source, "other-sentence")
            else:
                yield _pair(window, add_detail(sentence, rng), "neutral", source, "added-detail")


def qa_pairs(question: str, context: str, answer: str, wrong: list[str], rng: random.Random,
             source: str) -> Iterator[dict]:
    """Short answers are judged with their question: the right answer is supported, other spans of the
    same context (plausible but wrong answers) are not. The answer is also stated as a sentence, as a
    model writes it: the context's sentence that holds the answer (supported) and the same sentence with
    another span of the context in the answer's place (contradicted)."""
    yield _pair(context, f"{question} {answer}", "entailment", source, "qa-right")
    others = [w for w in dict.fromkeys(wrong) if w.lower() != answer.lower()
              and answer.lower() not in w.lower() and w.lower() not in answer.lower()]
    for other in rng.sample(others, min(2, len(others))):
        yield _pair(context, f"{question} {other}", "neutral", source, "qa-wrong")
    holding = [s for s in split_sentences(context) if answer in s]
    if holding and others:
        sentence = holding[0]
        yield _pair(context, compress(sentence), "entailment", source, "qa-sentence")
        yield _pair(context, sentence.replace(answer, rng.choice(others), 1), "contradiction", source,
                    "qa-sentence-wrong")


def unanswerable_pairs(question: str, context: str, spans: list[str], rng: random.Random,
                       source: str) -> Iterator[dict]:
    """A question the context does not answer, with a span of that context as its answer: not supported
    (the plausible answer a model gives instead of abstaining)."""
    if spans:
        yield _pair(context, f"{question} {rng.choice(spans)}", "neutral", source, "qa-unanswerable")


def _pair(premise: str, hypothesis: str, label: str, source: str, kind: str) -> dict:
    return {"premise": premise, "hypothesis": hypothesis, "label": label, "set": source, "kind": kind}
