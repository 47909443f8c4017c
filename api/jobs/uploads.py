"""Uploaded files onto disk, safely: one folder per job under ``<data_dir>/api/uploads``.

A client's file name is never used as a path. It is reduced to a plain name (no folders, no
``..``, no control or shell characters, no leading dot) that becomes the document's ``doc_id``,
and the final path is checked to sit inside the job's folder before anything is written. Each file
is copied in blocks with its size counted (over the limit → rejected, the copy removed) and its
bytes sniffed (see api.jobs.sniff). Rejected files get a reason and are not kept.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from api.jobs.sniff import sniff_file
from api.jobs.store import JobFileRecord

COPY_BLOCK = 1 << 20
MAX_NAME_CHARS = 180
_UNSAFE = re.compile(r"[^\w.\- ()+,=@]+", re.UNICODE)


class UnsafeName(ValueError):
    pass


def safe_file_name(raw: str | None) -> str:
    """The last path component of ``raw``, with anything risky replaced by ``_``."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # Windows and POSIX folders alike
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # control and format chars
    name = _UNSAFE.sub("_", name).strip(" .")
    name = name.lstrip("-")  # never looks like an option to a tool run on the folder
    if not name or set(name) <= {"_", "."}:
        raise UnsafeName(f"the file name {raw!r} has nothing usable left once folders and unsafe characters go")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, suffix = name.rpartition(".")
        keep = suffix if dot and len(suffix) <= 10 else ""
        name = name[: MAX_NAME_CHARS - len(keep) - 1].rstrip(" .") + ("." + keep if keep else "")
    return name


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing anything that would land outside ``folder``."""
    target = (folder / name).resolve()
    if target.parent != folder.resolve():
        raise UnsafeName(f"the file name {name!r} would be stored outside the upload folder")
    return target


@dataclass
class IncomingFile:
    name: str | None
    content_type: str | None
    stream: BinaryIO


def store_uploads(folder: Path, files: list[IncomingFile], max_bytes: int) -> list[JobFileRecord]:
    """Copy, check and sniff each file into ``folder``; one record per file, accepted or not."""
    folder.mkdir(parents=True, exist_ok=False)
    records: list[JobFileRecord] = []
    taken: set[str] = set()
    for position, incoming in enumerate(files):
        records.append(_store_one(folder, position, incoming, max_bytes, taken))
    return records


def _store_one(folder: Path, position: int, incoming: IncomingFile, max_bytes: int, taken: set[str]) -> JobFileRecord:
    shown = incoming.name or f"file {position + 1}"

    def rejected(error: str, size: int = 0, doc_id: str | None = None, detected: str | None = None) -> JobFileRecord:
        return JobFileRecord(position, shown, None, doc_id, size, incoming.content_type, detected, "rejected", error)

    try:
        name = safe_file_name(incoming.name)
        target = inside(folder, name)
    except UnsafeName as error:
        return rejected(str(error))
    if name.lower() in taken:
        return rejected(f"another file in this upload is also named {name!r}; upload it separately", doc_id=name)
    taken.add(name.lower())
    partial = target.with_name(target.name + ".part")
    size = 0
    with open(partial, "wb") as out:
        while block := incoming.stream.read(COPY_BLOCK):
            size += len(block)
            if size > max_bytes:
                break
            out.write(block)
    if size > max_bytes:
        partial.unlink()
        limit_mb = max_bytes / 1048576
        return rejected(f"too large: more than {limit_mb:g} MiB (VERIRAG_API_MAX_UPLOAD_MB)", size, name)
    sniffed = sniff_file(partial, name, incoming.content_type)
    if not sniffed.accepted:
        partial.unlink()
        return rejected(sniffed.error, size, name, sniffed.detected)
    os.replace(partial, target)
    return JobFileRecord(position, shown, name, name, size, incoming.content_type, sniffed.detected, "pending")


def remove_orphans(uploads_dir: Path, known_job_ids: set[str]) -> list[Path]:
    """Folders left by a crash between saving files and recording their job: nothing refers to them."""
    removed = []
    if uploads_dir.is_dir():
        for folder in uploads_dir.iterdir():
            if folder.is_dir() and folder.name not in known_job_ids:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed
