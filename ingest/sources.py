"""Find what to ingest: files under folders, single files, and BEIR-style ``corpus.jsonl`` files.

``doc_id`` is stable for a source: the path relative to the root it was found under (a file given
directly is its own root, so its id is its name), or the record's ``id`` in a JSONL corpus.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from rag.ids import sha256_hex
from rag.store.base import match_value

JSONL_SUFFIX = ".jsonl"
HASH_BLOCK = 1 << 20


class SourceError(ValueError):
    """A path given on the command line cannot be used at all."""


class NothingToIngest(SourceError):
    """The paths hold no file to ingest (an empty folder, everything hidden or filtered out, a
    corpus without records): a run would only create an empty collection."""


@dataclass(frozen=True, slots=True)
class Source:
    doc_id: str
    uri: str  # what the store records as "source": absolute path, or path#id for JSONL records
    path: Path
    size: int
    content_hash: str
    # For JSONL records the text is already here; files are parsed later, only if needed.
    title: str | None = None
    text: str | None = None
    metadata: dict | None = None

    @property
    def is_record(self) -> bool:
        return self.text is not None


@dataclass(frozen=True, slots=True)
class SourceFailure:
    path: str
    error: str


@dataclass(frozen=True, slots=True)
class Discovery:
    sources: list[Source]
    failures: list[SourceFailure]
    roots: list[Path]  # what --prune may prune under
    hidden: int = 0  # hidden files and folders skipped (a hidden folder counts once)
    filtered: int = 0  # files left out by --include / --exclude

    @property
    def empty(self) -> bool:
        return not self.sources and not self.failures

    def nothing_found(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> NothingToIngest:
        """The error of an empty run: the paths, what was looked for, and why nothing was found."""
        where = ", ".join(str(root) for root in self.roots)
        reasons = []
        if self.filtered:
            chosen = " ".join([*(f"--include {p!r}" for p in include), *(f"--exclude {p!r}" for p in exclude)])
            reasons.append(f"{self.filtered} file(s) left out by {chosen}")
        if self.hidden:
            reasons.append(f"{self.hidden} hidden file(s) or folder(s) skipped")
        if any(root.suffix.lower() == JSONL_SUFFIX for root in self.roots):
            reasons.append("a corpus file holds no records")
        found = "; ".join(reasons) if reasons else "no files at all"
        return NothingToIngest(
            f"nothing to ingest under {where}: {found}. verirag looks for documents (PDF, Office, HTML, "
            "Markdown, text, images) in every file not hidden, folders walked recursively, and records in "
            "corpus .jsonl files; no collection was created or changed"
        )


def discover(paths: Sequence[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Discovery:
    sources: list[Source] = []
    failures: list[SourceFailure] = []
    roots: list[Path] = []
    counts = {"hidden": 0, "filtered": 0}
    for given in paths:
        root = Path(given).expanduser()
        if not root.exists():
            raise SourceError(f"{given}: no such file or folder")
        root = root.resolve()
        roots.append(root)
        if root.is_dir():
            files = sorted(_walk(root, counts))
            base = root
        else:
            files = [root]
            base = root.parent
        for path in files:
            relative = path.relative_to(base).as_posix()
            if not _selected(relative, include, exclude):
                counts["filtered"] += 1
                continue
            if path.suffix.lower() == JSONL_SUFFIX:
                _read_corpus(path, sources, failures)
            else:
                try:
                    sources.append(_file_source(path, relative))
                except OSError as error:
                    failures.append(SourceFailure(str(path), f"cannot read the file: {error.strerror or error}"))
    _reject_duplicate_ids(sources, failures)
    return Discovery(sources, failures, roots, counts["hidden"], counts["filtered"])


def _walk(root: Path, counts: dict[str, int]) -> Iterator[Path]:
    for directory, subdirs, names in os.walk(root):
        # Hidden folders (.git, .verirag, .venv) are never documents, nor walked.
        counts["hidden"] += sum(1 for d in subdirs if d.startswith("."))
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in names:
            if not name.startswith("."):
                yield Path(directory) / name
            else:
                counts["hidden"] += 1


def _selected(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]

    def matches(pattern: str) -> bool:
        return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern)

    if include and not any(matches(p) for p in include):
        return False
    return not any(matches(p) for p in exclude)


def _file_source(path: Path, doc_id: str) -> Source:
    digest = _hash_file(path)
    return Source(doc_id=doc_id, uri=str(path), path=path, size=path.stat().st_size, content_hash=digest)


def _hash_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _read_corpus(path: Path, sources: list[Source], failures: list[SourceFailure]) -> None:
    """One document per line: {"id", "title", "text"} (extra keys become filterable metadata)."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as error:
        failures.append(SourceFailure(str(path), f"cannot read the file: {error.strerror or error}"))
        return
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                failures.append(SourceFailure(where, f"not valid JSON ({error.msg}); each line must be one JSON object"))
                continue
            if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("text"), str):
                failures.append(SourceFailure(where, 'a corpus line needs "id" and a string "text" (and optionally "title")'))
                continue
            doc_id = str(record["id"])
            title = str(record.get("title") or "")
            text = record["text"]
            metadata = {
                k: match_value(v) for k, v in record.items() if k not in {"id", "title", "text", "_id"} and _scalar(v)
            }
            sources.append(
                Source(
                    doc_id=doc_id,
                    uri=f"{path}#{doc_id}",
                    path=path,
                    size=len(text.encode("utf-8")),
                    content_hash=sha256_hex(f"{title}\x1f{text}"),
                    title=title,
                    text=text,
                    metadata=metadata or None,
                )
            )


def _scalar(value: object) -> bool:
    return isinstance(value, (str, int, bool))


def _reject_duplicate_ids(sources: list[Source], failures: list[SourceFailure]) -> None:
    seen: dict[str, Source] = {}
    keep: list[Source] = []
    for source in sources:
        first = seen.get(source.doc_id)
        if first is None:
            seen[source.doc_id] = source
            keep.append(source)
        else:
            failures.append(
                SourceFailure(
                    source.uri,
                    f"doc_id {source.doc_id!r} is already used by {first.uri}; ingest the two roots "
                    "into different collections or rename one",
                )
            )
    sources[:] = keep
