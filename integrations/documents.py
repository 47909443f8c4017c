"""A stored document's text, as the integrations hand it out (the MCP server's document resources).

verirag stores chunks, not documents; each chunk knows its span in the document's extracted text. Joined at
those spans, the chunks give back the text with every character where the document has it, so the
``char_start``/``char_end`` of a passage, a citation or a piece of evidence index into it directly. What lies
between two chunks (the blank lines between sections, which no chunk holds) is filled with line breaks of the
same length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence


@dataclass(frozen=True)
class DocumentText:
    doc_id: str
    source: str
    title: str
    text: str  # text[char_start:char_end] is the passage with that span
    pages: list[int] = field(default_factory=list)
    chunks: int = 0
    complete: bool = True  # False when a chunk had no span: it is appended after a blank line instead

    def to_dict(self) -> dict:
        return asdict(self)


def joined_at_spans(chunks: Sequence[Any]) -> tuple[str, bool]:
    """(text, complete) from chunk records in index order (``start``, ``end``, ``text``, ``exact``)."""
    text = ""
    complete = True
    for chunk in chunks:
        if not chunk.exact:  # written without a span: its place is unknown
            text += ("\n\n" if text else "") + chunk.text
            complete = False
        elif chunk.start >= len(text):
            text += "\n" * (chunk.start - len(text)) + chunk.text
        else:  # overlaps the text so far (the chunker's overlap): only its new end is added
            text += chunk.text[len(text) - chunk.start:]
    return text, complete
