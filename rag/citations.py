"""Find the [S#] labels a model wrote and resolve them to the passages it was given."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.types import Passage

# [S1], [S1, S3], [S2][S4], [S1-S3] — models write all of these.
CITATION_GROUP = re.compile(r"\[\s*(S\d+(?:\s*(?:,|;|-|–|and)\s*S?\d+)*)\s*\]", re.IGNORECASE)
LABEL = re.compile(r"S?(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Citation:
    label: str
    doc_id: str
    source: str
    title: str
    page: int | None
    pages: tuple[int, ...]
    char_start: int
    char_end: int
    text: str


def cited_labels(text: str) -> list[str]:
    """Labels in order of first appearance, ranges expanded ([S1-S3] → S1, S2, S3)."""
    labels: list[str] = []
    for group in CITATION_GROUP.finditer(text):
        body = group.group(1)
        numbers = [int(n) for n in LABEL.findall(body)]
        if re.search(r"[-–]", body) and len(numbers) == 2 and numbers[0] <= numbers[1] <= numbers[0] + 50:
            numbers = list(range(numbers[0], numbers[1] + 1))
        for number in numbers:
            label = f"S{number}"
            if label not in labels:
                labels.append(label)
    return labels


def resolve_citations(text: str, passages: list[Passage]) -> tuple[list[Citation], list[str]]:
    """(citations of labels that name a given passage, labels that name none)."""
    by_label = {passage.label: passage for passage in passages}
    citations: list[Citation] = []
    unknown: list[str] = []
    for label in cited_labels(text):
        passage = by_label.get(label)
        if passage is None:
            unknown.append(label)
            continue
        citations.append(
            Citation(
                label=label,
                doc_id=passage.doc_id,
                source=passage.source,
                title=passage.title,
                page=passage.page,
                pages=passage.pages,
                char_start=passage.char_start,
                char_end=passage.char_end,
                text=passage.text,
            )
        )
    return citations, unknown
