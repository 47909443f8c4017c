"""Uploaded files onto disk, safely: one folder per job under ``<data_dir>/api/uploads``.

A client's file name is never used as a path. It is reduced to a plain name (no folders, no
``..``, no control or shell characters, no leading dot, at most 255 bytes of UTF-8 with its extension
kept) that becomes the document's ``doc_id``, and the final path is checked to sit inside the job's
folder before anything is written. A name that loses characters on the way (symbols, emoji, a cut)
keeps a short hash of the original, so two different names never become one document. Each file is
copied in blocks with its size counted (over the limit → rejected, the copy removed) and its bytes
sniffed (see api.jobs.sniff). Rejected files get a reason and are not kept; a file that cannot be
written is rejected alone, and an upload that keeps nothing leaves no folder behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingest.archive_limits import ArchiveLimits

from api.files import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from api.jobs.sniff import sniff_file
from api.jobs.table import JobFileRecord

log = logging.getLogger("api.jobs")
COPY_BLOCK = 1 << 20
MAX_NAME_CHARS = 180
MAX_NAME_BYTES = 255  # what Linux, macOS and Windows file systems allow for one name
MAX_SUFFIX_CHARS = 10
NAME_HASH_CHARS = 8
_UNSAFE = re.compile(r"[^\w.\- ()+,=@]+", re.UNICODE)


class UnsafeName(ValueError):
    pass


def safe_file_name(raw: str | None) -> str:
    """The last path component of ``raw``, with anything risky replaced by ``_``, cut to fit a file
    system's name limit; a short hash of the original name is kept when characters were lost."""
    original = unicodedata.normalize("NFC", raw or "")
    original = original.replace("\\", "/").rsplit("/", 1)[-1]  # Windows and POSIX folders alike
    name = "".join(ch for ch in original if unicodedata.category(ch)[0] != "C")  # control and format chars
    cleaned = _UNSAFE.sub("_", name)
    lost = cleaned != name
    name = cleaned.strip(" .")
    name = name.lstrip("-")  # never looks like an option to a tool run on the folder
    if not name or set(name) <= {"_", "."}:
        raise UnsafeName(f"the file name {raw!r} has nothing usable left once folders and unsafe characters go")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > MAX_SUFFIX_CHARS:
        stem, suffix = name, ""
    suffix = "." + suffix if suffix else ""
    too_long = len(name) > MAX_NAME_CHARS or len(name.encode("utf-8")) > MAX_NAME_BYTES
    if not (lost or too_long):
        return name
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:NAME_HASH_CHARS]
    tail = f"-{digest}{suffix}"
    room_chars = MAX_NAME_CHARS - len(tail)
    room_bytes = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    # Cut in bytes, then drop a character the cut split in two.
    stem = stem[:room_chars].encode("utf-8")[:room_bytes].decode("utf-8", errors="ignore").strip(" ._-")
    return f"{stem}{tail}" if stem else f"{digest}{suffix}"


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


def store_uploads(folder: Path, files: list[IncomingFile], max_bytes: int,
                  archive_limits: ArchiveLimits | None = None) -> list[JobFileRecord]:
    """Copy, check and sniff each file into ``folder``; one record per file, accepted or not.
    ``folder`` is removed again when no file was kept."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=False)
    os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
    records: list[JobFileRecord] = []
    taken: set[str] = set()
    try:
        for position, incoming in enumerate(files):
            records.append(_store_one(folder, position, incoming, max_bytes, taken, archive_limits))
    finally:
        if not any(record.status == "pending" for record in records):
            shutil.rmtree(folder, ignore_errors=True)
    return records


def _store_one(folder: Path, position: int, incoming: IncomingFile, max_bytes: int, taken: set[str],
               archive_limits: ArchiveLimits | None) -> JobFileRecord:
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
    # The copy's name never depends on the client's: a long name plus a suffix could pass the limit.
    partial = folder / f".upload-{position}.part"
    size = 0
    try:
        # 0600 from the first byte: uploaded documents are readable by the server's user only
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE), "wb") as out:
            while block := incoming.stream.read(COPY_BLOCK):
                size += len(block)
                if size > max_bytes:
                    break
                out.write(block)
        if size > max_bytes:
            partial.unlink()
            limit_mb = max_bytes / 1048576
            return rejected(f"too large: more than {limit_mb:g} MiB (VERIRAG_API_MAX_UPLOAD_MB)", size, name)
        sniffed = sniff_file(partial, name, incoming.content_type, archive_limits)
        if not sniffed.accepted:
            partial.unlink()
            return rejected(sniffed.error, size, name, sniffed.detected)
        os.replace(partial, target)
    except OSError as error:  # a full disk, a name the file system still refuses: this file only
        log.warning("upload %s: cannot store %r: %s", folder.name, shown, error)
        partial.unlink(missing_ok=True)
        return rejected(f"the server could not store the file ({error.strerror or error}); upload it again", size, name)
    return JobFileRecord(position, shown, name, name, size, incoming.content_type, sniffed.detected, "pending")


def remove_stored_uploads(uploads_dir: Path, stored: list[tuple[str, str]]) -> int:
    """Delete these uploaded files ((job id, stored name) pairs, api.jobs.table.JobTable.stored_uploads)
    and each job folder they leave empty; returns how many files were deleted (gone ones are skipped)."""
    removed = 0
    for job_id, stored_name in stored:
        folder = uploads_dir / job_id
        try:
            inside(folder, stored_name).unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except UnsafeName:  # a name the table should never hold: never follow it out of the folder
            log.warning("upload %s: refusing to delete %r outside its folder", job_id, stored_name)
            continue
        try:
            folder.rmdir()  # only when empty: the job's other files stay
        except OSError:
            pass
    return removed


def remove_orphans(uploads_dir: Path, known_job_ids: set[str], older_than_s: float = 0.0) -> list[Path]:
    """Folders left by a crash between saving files and recording their job: nothing refers to them.
    ``older_than_s``: spare younger folders (replicas sharing the folder: another one's upload in flight)."""
    removed = []
    if uploads_dir.is_dir():
        cutoff = time.time() - older_than_s
        for folder in uploads_dir.iterdir():
            if folder.is_dir() and folder.name not in known_job_ids and _modified(folder) <= cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def _modified(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile (another replica)
        return float("inf")
