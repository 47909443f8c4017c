"""The header that places a chunk in its document: ``Title / Section / Subsection``.

Models read it above the chunk's text: the embedder (``Chunk.embedding_text``) and the cross-encoder
(``rag.rerank.pair_text``), while the chunker (``ingest.chunking``) leaves room for it in each
chunk's token budget. The budget holds only while all three build the same text, so they all call
:func:`chunk_header`.

It is a module of its own, below ``rag.types``, because ``Chunk.embedding_text`` needs it and the
stored chunk record (``rag.chunk_record``) needs ``rag.types``: the header cannot live in either
without an import cycle.
"""

from __future__ import annotations

from typing import Sequence

SEPARATOR = " / "


def chunk_header(title: str, section_path: Sequence[str]) -> str:
    """The title and the section path joined by `` / ``, empty parts left out ("" when all are)."""
    return SEPARATOR.join(part for part in (title, *section_path) if part)
