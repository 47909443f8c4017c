"""ZIP-based documents are checked before any parser reads them (ingest.archive_limits): a
decompression bomb is refused with the limit and the setting named, genuine documents pass."""

from __future__ import annotations

import struct
import zipfile

import pytest

from ingest import parse as parse_module
from ingest.archive_limits import RATIO_FLOOR_BYTES, ArchiveLimits, ArchiveRefused, check_archive
from ingest.parse import ParseError, parse_file
from tests.api.helpers import SAMPLES
from tests.conftest import SHARED_DATASETS
from tests.ingest.archives import paragraph, write_docx, write_docx_bomb

MIB = 1 << 20
DEFAULTS = ArchiveLimits(256 * MIB, 100.0)  # the settings' defaults


def test_an_archive_over_the_size_limit_is_refused_from_its_directory(tmp_path):
    bomb = write_docx_bomb(tmp_path / "bomb.docx", megabytes=50)
    assert bomb.stat().st_size < MIB  # what the upload limit sees

    with pytest.raises(ArchiveRefused) as refused:
        check_archive(bomb, ArchiveLimits(10 * MIB, 10_000.0))
    assert "bomb.docx" in str(refused.value) and "10 MiB" in str(refused.value)
    assert "VERIRAG_ARCHIVE_MAX_UNCOMPRESSED_MB" in str(refused.value)


def test_an_archive_over_the_ratio_limit_is_refused(tmp_path):
    bomb = write_docx_bomb(tmp_path / "bomb.docx", megabytes=8)
    with pytest.raises(ArchiveRefused) as refused:
        check_archive(bomb, DEFAULTS)
    assert "decompression bomb" in str(refused.value) and "VERIRAG_ARCHIVE_MAX_RATIO" in str(refused.value)
    check_archive(bomb, ArchiveLimits(256 * MIB, 10_000.0))  # the same file with the ratio check relaxed


def test_small_parts_may_compress_well(tmp_path):
    small = write_docx(tmp_path / "small.docx", paragraph("x") + " " * (RATIO_FLOOR_BYTES // 2))
    check_archive(small, DEFAULTS)


def test_a_part_that_inflates_beyond_what_it_declares_is_refused(tmp_path):
    archive = write_docx(tmp_path / "lies.docx", paragraph("words ") * 20_000)
    data = bytearray(archive.read_bytes())
    # Declare 1 KiB for word/document.xml (the last central directory entry; its size field is at +24).
    entry = data.rfind(b"PK\x01\x02")
    data[entry + 24: entry + 28] = struct.pack("<I", 1024)
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(archive) as opened:
        assert opened.getinfo("word/document.xml").file_size == 1024

    with pytest.raises(ArchiveRefused) as refused:
        check_archive(archive, DEFAULTS)
    assert "damaged" in str(refused.value)


def test_the_real_documents_pass_with_the_defaults():
    documents = [SAMPLES / "hr_oncall_policy.docx"]
    if SHARED_DATASETS.is_dir():
        documents += [p for p in (SHARED_DATASETS / "docs").rglob("*") if p.suffix in (".docx", ".xlsx", ".pptx",
                                                                                       ".odt", ".epub")]
    for document in documents:
        if document.read_bytes()[:4] == b"PK\x03\x04":
            check_archive(document, DEFAULTS)


def test_a_bomb_is_refused_before_any_parser_runs(tmp_path, monkeypatch):
    def no_parser():
        raise AssertionError("the parser was reached")

    monkeypatch.setattr(parse_module, "prepare_parser", no_parser)
    bomb = write_docx_bomb(tmp_path / "bomb.docx", megabytes=50)
    with pytest.raises(ParseError) as refused:
        parse_file(bomb, ArchiveLimits(10 * MIB, 100.0))
    assert "bomb.docx" in str(refused.value) and "VERIRAG_ARCHIVE_MAX" in str(refused.value)
