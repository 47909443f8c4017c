"""What an ingest run did, as numbers a person or a CI job can read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Exit codes of `verirag ingest` (documented in the README).
EXIT_OK = 0
EXIT_FATAL = 1  # nothing was ingested: bad configuration, store locked, missing path
EXIT_SOME_FAILED = 3  # the batch finished, some files could not be ingested
EXIT_INTERRUPTED = 130  # Ctrl-C: what finished is stored and reported; a rerun resumes (128 + SIGINT)
# Lines of document warnings the summary prints; the --report file holds them all.
SUMMARY_WARNINGS = 20


@dataclass
class FileCounts:
    total: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    pruned: int = 0


@dataclass
class ChunkCounts:
    written: int = 0
    deleted: int = 0


@dataclass
class Failure:
    path: str
    error: str


@dataclass
class DocumentReport:
    """One document written by the run: what parsing made of it (the parse-quality report)."""

    doc_id: str
    source: str
    title: str
    pages: int | None  # page count when known (PDF, images; the highest page of PPTX/XLSX)
    chunks: int
    warnings: list[str] = field(default_factory=list)  # no text layer, OCR used, suspicious title …
    status: str = "new"  # "new" or "changed"


@dataclass
class IngestReport:
    collection: str
    dry_run: bool = False
    files: FileCounts = field(default_factory=FileCounts)
    chunks: ChunkCounts = field(default_factory=ChunkCounts)
    failures: list[Failure] = field(default_factory=list)
    documents: list[DocumentReport] = field(default_factory=list)  # written by this run, in order
    seconds: float = 0.0
    stopped_early: bool = False  # --strict stopped at the first failure
    interrupted: bool = False  # Ctrl-C: only the documents counted here were written

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_SOME_FAILED if self.failures else EXIT_OK

    @property
    def not_processed(self) -> int:
        """Documents found but neither written, unchanged nor failed (an interrupted or --strict run)."""
        f = self.files
        return max(0, f.total - f.new - f.changed - f.unchanged - f.failed)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["chunks_per_second"] = round(self.chunks.written / self.seconds, 2) if self.seconds else 0.0
        return data

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def summary(self) -> str:
        f, c = self.files, self.chunks
        verb = "would ingest" if self.dry_run else "ingested"
        lines = [
            f"{verb} into {self.collection!r} in {self.seconds:.1f}s: {f.total} documents — "
            f"{f.new} new, {f.changed} changed, {f.unchanged} unchanged, {f.failed} failed, {f.pruned} pruned",
            f"chunks: {c.written} written, {c.deleted} deleted"
            + (f" ({c.written / self.seconds:.1f} chunks/s)" if self.seconds and c.written else ""),
        ]
        for failure in self.failures:
            lines.append(f"  FAILED {failure.path}: {failure.error}")
        notes = [(document.source, warning) for document in self.documents for warning in document.warnings]
        for source, warning in notes[:SUMMARY_WARNINGS]:
            lines.append(f"  warning {source}: {warning}")
        if len(notes) > SUMMARY_WARNINGS:
            lines.append(f"  … {len(notes) - SUMMARY_WARNINGS} more warnings in the --report file")
        if self.stopped_early:
            lines.append("stopped at the first failure (--strict); documents after it were not processed")
        if self.interrupted:
            lines.append(self.interruption_message())
        return "\n".join(lines)

    def interruption_message(self) -> str:
        f = self.files
        return (
            f"interrupted: {f.new + f.changed} documents written ({f.new} new, {f.changed} changed), "
            f"{f.unchanged} unchanged, {f.failed} failed, {self.not_processed} not processed. Run the same command again to resume: "
            "it is incremental, so documents already stored are skipped and any document left half-written "
            "is written again."
        )
