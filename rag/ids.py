"""Deterministic identifiers: the same document and chunk always map to the same point."""

from __future__ import annotations

import hashlib
import uuid

# A fixed namespace so ids are stable across machines and versions.
VERIRAG_NAMESPACE = uuid.UUID("6f1c3f0e-6a8b-5d4e-9a51-0c8f7e0b2d11")


def chunk_point_id(doc_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(VERIRAG_NAMESPACE, f"{doc_id}\x1f{chunk_index}"))


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
