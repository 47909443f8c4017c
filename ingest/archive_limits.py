"""Refuse ZIP-based documents (DOCX, XLSX, PPTX, ODT, EPUB …) that would inflate beyond reason.

A small archive can hold gigabytes of XML (a 2 MB DOCX whose ``word/document.xml`` is 2 GiB of
whitespace), and the XML parsers behind every office format build the whole tree in memory. Two
checks run before any parser sees the file:

1. **The central directory** (cheap, no inflation): the declared uncompressed total must stay under
   ``archive_max_uncompressed_mb``, and neither the whole archive nor any member above
   ``RATIO_FLOOR_BYTES`` may inflate more than ``archive_max_ratio`` times.
2. **The bytes really inflated**: the directory is written by whoever made the file, so every member
   is then read through, counting what comes out and stopping at the same cap. A member that inflates
   to other than its declared size fails its CRC check and is refused as damaged.

Both run in the parse child (:mod:`ingest.parse_child`) under its memory and time limits; the first
one also runs on upload (:mod:`api.jobs.sniff`), so a bomb is refused before it is queued.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

# Members this small cannot hurt whatever their ratio; tiny XML parts routinely compress 40:1.
RATIO_FLOOR_BYTES = 1 << 20
READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_uncompressed_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings) -> "ArchiveLimits":
        return cls(int(settings.archive_max_uncompressed_mb * 1048576), settings.archive_max_ratio)

    @property
    def max_mb(self) -> float:
        return self.max_uncompressed_bytes / 1048576


class ArchiveRefused(ValueError):
    """The archive exceeds a limit or is damaged; the message names the file, the limit and the setting."""


def directory_problem(archive: zipfile.ZipFile, name: str, limits: ArchiveLimits) -> str | None:
    """Check 1, on the central directory only. ``name`` is the file's name for the message."""
    members = archive.infolist()
    declared = sum(member.file_size for member in members)
    if declared > limits.max_uncompressed_bytes:
        return _too_large(name, f"{declared / 1048576:.1f} MiB", limits)
    compressed = sum(member.compress_size for member in members)
    for label, size, packed in [("the archive", declared, compressed)] + [
        (member.filename, member.file_size, member.compress_size) for member in members
    ]:
        if size >= RATIO_FLOOR_BYTES and size > limits.max_ratio * max(packed, 1):
            return (
                f"{name} looks like a decompression bomb: {label} inflates {size / max(packed, 1):.0f} times "
                f"({packed / 1048576:.2f} MiB to {size / 1048576:.1f} MiB), over the {limits.max_ratio:g}:1 "
                "limit; raise VERIRAG_ARCHIVE_MAX_RATIO if the document is genuine"
            )
    return None


def check_archive(path: Path, limits: ArchiveLimits, name: str | None = None) -> None:
    """Both checks on the ZIP at ``path``; raises ArchiveRefused."""
    name = name or path.name
    try:
        with zipfile.ZipFile(path) as archive:
            problem = directory_problem(archive, name, limits)
            if problem is not None:
                raise ArchiveRefused(problem)
            inflated = 0
            for member in archive.infolist():
                with archive.open(member) as stream:
                    while block := stream.read(READ_BLOCK):
                        inflated += len(block)
                        if inflated > limits.max_uncompressed_bytes:
                            amount = f"more than {limits.max_mb:g} MiB (more than it declares)"
                            raise ArchiveRefused(_too_large(name, amount, limits))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, OSError) as error:
        raise ArchiveRefused(f"{name} is a damaged or unreadable ZIP archive ({error}); re-export it") from error


def _too_large(name: str, amount: str, limits: ArchiveLimits) -> str:
    return (
        f"{name} unpacks to {amount}, over the {limits.max_mb:g} MiB limit on unpacked archives (DOCX, XLSX, "
        "PPTX, ODT and EPUB are ZIP archives); raise VERIRAG_ARCHIVE_MAX_UNCOMPRESSED_MB if the document is genuine"
    )
