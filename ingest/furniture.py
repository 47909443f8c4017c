"""Page furniture: the elements of a paged document that belong to the page, not to the text.

* **Running headers, footers and page numbers** — the elements that open or close a page (an
  unbroken run of at most :data:`EDGE` from its top or its bottom) whose text, with digits masked
  (``Page 3 of 12`` → ``page # of #``), opens or closes at least :data:`MIN_PAGES` pages and
  :data:`MIN_SHARE` of the document's pages. Documents of fewer pages keep everything; a table is
  never furniture, and a page made of nothing but such repeats keeps them (it is text repeated).
* **The arXiv stamp** in the margin of a preprint (``arXiv:1810.04805v2 [cs.CL] 24 May 2019``). Read
  the right way round it is cut out of whatever element holds it (:func:`strip_stamps`). Rotated, the
  parser gives it as runs of single characters, often reversed and in pieces (``9 1 0 2 y a M 4 2``,
  ``] L C . s c [``, ``J``, ``i``): on a page where the elements made of single characters, put
  together, read ``arXiv``, an arXiv identifier or category (``[cs.CL]``) forwards or backwards,
  every such element is dropped.

unstructured's own ``Header``/``Footer``/``PageNumber`` categories are skipped by
:mod:`ingest.parse` before this module sees the elements; this catches what it files as text.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Sequence

EDGE = 3  # elements counted as the top (and as the bottom) of a page
MIN_PAGES = 3
MIN_SHARE = 0.2
MAX_FURNITURE_CHARS = 150  # a running header is a line, not a paragraph

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
# New-style (1810.04805) and old-style (cs/0112017) identifiers, the category and the date.
ARXIV_STAMP = re.compile(
    rf"arXiv:\s?(?:\d{{4}}\.\d{{4,5}}|[a-z-]+(?:\.[A-Z]{{2}})?/\d{{7}})(?:v\d+)?"
    rf"(?:\s*\[[\w.-]+\])?(?:\s*\d{{1,2}}\s*{_MONTH}\s*\d{{4}})?"
)
# What identifies the stamp even when the parser lost a character of it ("arXv:240101234v1[cs.IR]").
_ARXIV_MARK = re.compile(r"arxiv|\d{4}\.?\d{4,5}v\d|\[[a-z-]{2,}\.[A-Z]{2}\]", re.IGNORECASE)
_DIGIT_RUN = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def strip_stamps(text: str) -> str:
    """``text`` without arXiv stamps read the right way round."""
    return ARXIV_STAMP.sub("", text) if "arXiv" in text else text


def single_characters(text: str) -> bool:
    """Every whitespace-separated token a single character: rotated text as the PDF parser gives it."""
    tokens = text.split()
    return bool(tokens) and all(len(token) == 1 for token in tokens)


def _reads_as_stamp(text: str) -> bool:
    collapsed = _SPACES.sub("", text)
    return bool(_ARXIV_MARK.search(collapsed) or _ARXIV_MARK.search(collapsed[::-1]))


def furniture_key(text: str) -> str:
    """What repeats from page to page: lower case, digits masked, whitespace collapsed."""
    return _DIGIT_RUN.sub("#", _SPACES.sub(" ", text.strip().lower()))


def find_furniture(items: Sequence[tuple[int | None, str, bool]]) -> set[int]:
    """Indexes of the furniture among ``items``: (page number, text, is a table), in document order."""
    by_page: dict[int, list[int]] = defaultdict(list)
    for index, (page, _text, _table) in enumerate(items):
        if page is not None:
            by_page[page].append(index)
    dropped = _stamp_runs(items, by_page)
    if len(by_page) < MIN_PAGES:
        return dropped
    remaining = {page: [index for index in indexes if index not in dropped] for page, indexes in by_page.items()}
    keys: dict[int, str] = {}
    pages_of: dict[str, set[int]] = defaultdict(set)
    for page, indexes in remaining.items():
        for index in {*indexes[:EDGE], *indexes[-EDGE:]}:
            _page, text, table = items[index]
            if not table and len(text) <= MAX_FURNITURE_CHARS:
                keys[index] = furniture_key(text)
                pages_of[keys[index]].add(page)
    needed = max(MIN_PAGES, math.ceil(MIN_SHARE * len(by_page)))
    repeated = {key for key, pages in pages_of.items() if len(pages) >= needed}
    for indexes in remaining.values():
        marks = [keys.get(index) in repeated for index in indexes]
        top = _leading(marks[:EDGE])
        bottom = _leading(marks[::-1][:EDGE])
        if top + bottom >= len(indexes):
            continue  # a page of nothing but repeats is the document's text, repeated
        dropped.update(indexes[:top])
        dropped.update(indexes[len(indexes) - bottom:])
    return dropped


def _leading(marks: list[bool]) -> int:
    count = 0
    for mark in marks:
        if not mark:
            break
        count += 1
    return count


def _stamp_runs(items: Sequence[tuple[int | None, str, bool]], by_page: dict[int, list[int]]) -> set[int]:
    dropped: set[int] = set()
    pages = by_page.items() if by_page else [(None, list(range(len(items))))]
    for _page, indexes in pages:
        spaced = [index for index in indexes if not items[index][2] and single_characters(items[index][1])]
        whole = [index for index in indexes if not items[index][2] and _is_reversed_stamp(items[index][1])]
        dropped.update(whole)
        if spaced and _reads_as_stamp("".join(items[index][1] for index in spaced)):
            dropped.update(spaced)
    return dropped


def _is_reversed_stamp(text: str) -> bool:
    """A short element that is an arXiv stamp read backwards (``9102 yaM 42 ]LC.sc[ 2v50840.0181:viXra``)."""
    return len(text) <= 80 and bool(ARXIV_STAMP.search(text[::-1]))
