"""The LLM judge: a model reads the claims beside excerpts of their sources and answers in JSON.

One request per answer, every undecided claim in it: ``supported`` / ``contradicted`` /
``not_enough_info`` with the source label and the sentence it relied on. Any configured profile can
judge (DeepSeek, a Llama server, the local model); ``json_output`` asks the backend for a JSON object
(llama.cpp enforces it with a grammar, DeepSeek with ``response_format``).

A model's word is checked where it can be: a quote that is not in the named source lowers the
confidence, and a reply that does not parse leaves its claims to the cheaper judges (noted, never
guessed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

from rag.source_text import quote_source_text
from rag.types import Passage
from rag.verify.items import clean, normalise

LLM_LABELS = ("supported", "contradicted", "not_enough_info")
_EXCERPT_CHARS = 900  # per source in the prompt: the judge reads excerpts, not whole passages
TOKENS_PER_CLAIM = 80

SYSTEM = (
    "You are a careful fact checker. You judge each claim only by the source excerpts given, never by "
    "what you know. Reply with a JSON object and nothing else."
)
INSTRUCTIONS = """For each claim decide:
- "supported": a source states it (a paraphrase is fine);
- "contradicted": a source states something incompatible with it (the opposite, another number, date or name);
- "not_enough_info": the sources do not say.
Give the label of the source you used and quote the sentence from it.
Reply in json exactly like this example:
{"results": [{"claim": 1, "verdict": "supported", "source": "S2", "quote": "<the sentence of S2 you used>"}]}"""


@dataclass(frozen=True, slots=True)
class LLMRuling:
    verdict: str  # one of LLM_LABELS
    source: str | None
    quote: str
    quote_found: bool  # the quote is in the named source (normalised)

    @property
    def confidence(self) -> float:
        if self.verdict == "not_enough_info":
            return 0.6
        return 0.8 if self.quote_found else 0.55


def judge_messages(claims: Sequence[str], excerpts: dict[str, str], question: str | None) -> list[dict]:
    sources = "\n\n".join(f"[{label}] {quote_source_text(text)}" for label, text in excerpts.items())
    numbered = "\n".join(f"{i}. {claim}" for i, claim in enumerate(claims, 1))
    asked = f"Question the claims answer: {question}\n\n" if question else ""
    user = f"Sources:\n{sources}\n\n{asked}Claims:\n{numbered}\n\n{INSTRUCTIONS}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def excerpts_for(spans: Sequence[tuple[Passage, int, int]]) -> dict[str, str]:
    """Per source label, the given spans widened to whole sentences' neighbourhood and joined with "…"."""
    by_label: dict[str, tuple[Passage, list[tuple[int, int]]]] = {}
    for passage, start, end in spans:
        by_label.setdefault(passage.label, (passage, []))[1].append((start, end))
    out: dict[str, str] = {}
    for label in sorted(by_label, key=_label_number):
        passage, ranges = by_label[label]
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            start, end = max(0, start - 150), min(len(passage.text), end + 150)
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        parts = [passage.text[s:e].strip() for s, e in merged]
        text = " … ".join(part for part in parts if part)
        out[label] = text[:_EXCERPT_CHARS]
    return out


def _label_number(label: str) -> int:
    digits = re.sub(r"\D", "", label)
    return int(digits) if digits else 0


_VERDICT_WORDS = {
    "supported": "supported", "support": "supported", "supports": "supported", "true": "supported",
    "entailed": "supported", "yes": "supported",
    "contradicted": "contradicted", "contradicts": "contradicted", "refuted": "contradicted",
    "false": "contradicted", "contradiction": "contradicted",
    "not_enough_info": "not_enough_info", "not enough info": "not_enough_info", "nei": "not_enough_info",
    "not enough information": "not_enough_info", "unsupported": "not_enough_info", "unknown": "not_enough_info",
    "insufficient": "not_enough_info", "no": "not_enough_info",
}  # fmt: skip


def parse_rulings(reply: str, claim_count: int, passages: dict[str, Passage]) -> dict[int, LLMRuling]:
    """Rulings by claim index (0-based) from a judge's reply; what does not parse is left out."""
    data = _json_object(reply)
    if data is None:
        return {}
    rows = data.get("results", data) if isinstance(data, dict) else data
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list):
        return {}
    out: dict[int, LLMRuling] = {}
    for position, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        index = _claim_index(row, position)
        verdict = _VERDICT_WORDS.get(str(row.get("verdict", row.get("label", row.get("status", "")))).strip().lower())
        if index is None or not 0 <= index < claim_count or verdict is None or index in out:
            continue
        source = _source_label(row.get("source"))
        quote = str(row.get("quote") or row.get("evidence") or "").strip()
        found = bool(quote) and source in passages and _quoted_in(quote, passages[source].text)
        out[index] = LLMRuling(verdict, source if source in passages else None, quote, found)
    return out


def _json_object(reply: str):
    text = reply.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    starts = sorted(i for i in (text.find("{"), text.find("[")) if i >= 0)
    for start in starts:  # the outermost value first: a list of rulings, or an object holding them
        try:
            return json.JSONDecoder().raw_decode(text[start:])[0]
        except json.JSONDecodeError:
            continue
    return None


def _claim_index(row: dict, position: int) -> int | None:
    raw = row.get("claim", row.get("id", row.get("index", position + 1)))
    digits = re.search(r"\d+", str(raw))
    return int(digits.group()) - 1 if digits else None


def _source_label(raw) -> str | None:
    if raw is None:
        return None
    digits = re.search(r"\d+", str(raw))
    return f"S{int(digits.group())}" if digits else None


_WORDS = re.compile(r"[^\W_]+")


def _quoted_in(quote: str, text: str) -> bool:
    words = _WORDS.findall(normalise(clean(quote)))
    if len(words) < 3:
        return False
    haystack = f" {' '.join(_WORDS.findall(normalise(clean(text))))} "
    # Models trim and re-punctuate quotes: the first eight words in order are enough.
    return f" {' '.join(words[:8])} " in haystack
