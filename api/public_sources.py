"""What clients see of where a document came from: its path relative to its ingest root, never the
server's own file system.

The store records each chunk's ``source`` as ingestion saw it: the absolute path of the file (an
upload's is under ``<data_dir>/api/uploads/<job>/``), or ``<corpus path>#<record id>`` for a JSONL
record. ``doc_id`` is already the path relative to the folder that was ingested (an upload's name, a
file given alone its name), so it is what clients get for a file; a corpus record keeps the corpus
file's name and its id. Anything that is not a local path (a URL, say) is shown as it is.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath, PureWindowsPath
from typing import Sequence

from rag.pipeline_hooks import PipelineHook
from rag.types import Passage


def public_source(source: str, doc_id: str) -> str:
    """``/srv/docs/handbook/hr/leave.md`` (doc_id ``hr/leave.md``) → ``hr/leave.md``;
    ``/srv/corpus.jsonl#d17`` → ``corpus.jsonl#d17``; ``https://…`` → unchanged."""
    path, hash_sign, record = source.partition("#")
    if not _is_local_path(path):
        return source
    if hash_sign:
        return f"{_name(path)}#{record}"
    if doc_id and _as_posix(path).endswith("/" + doc_id.lstrip("/")):
        return doc_id
    return _name(path)


def _is_local_path(text: str) -> bool:
    return text.startswith(("/", "~", "\\\\")) or PureWindowsPath(text).drive != ""


def _as_posix(path: str) -> str:
    return path.replace("\\", "/")


def _name(path: str) -> str:
    return PurePosixPath(_as_posix(path)).name


def with_public_sources(passages: Sequence[Passage]) -> list[Passage]:
    return [dataclasses.replace(p, source=public_source(p.source, p.doc_id)) for p in passages]


class PublicSources(PipelineHook):
    """The API's pipeline hook: retrieved passages carry public sources, so the prompt, the citations,
    the verdict's evidence and every response show no server path."""

    def retrieved(self, passages: list[Passage]) -> list[Passage]:
        return with_public_sources(passages)
