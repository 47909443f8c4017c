"""Bad input judged by content (ingest.content): text under any name is ingested as plain text,
binary data of no supported format is refused with a reason, a file named as an image must be one;
the upload check (api.jobs.sniff) applies the same rules. A run with nothing to ingest stops with a
message and creates no collection."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys

import pytest

from api.jobs.sniff import sniff_file
from ingest.content import PLAIN_TEXT_TYPE, ContentMismatch, judge
from ingest.job import IngestJob, IngestOptions
from ingest.parse import ParseError, parse_file
from ingest.sources import NothingToIngest

PYTHON_SOURCE = b'"""Valve control."""\n\nOPEN_PRESSURE_BAR = 12  # the Osprey valve opens here\n\n\ndef opens(bar):\n    return bar >= OPEN_PRESSURE_BAR\n'
JSON_TEXT = b'{"valve": "Osprey", "opens_at_bar": 12, "notes": ["inspected in May"]}\n'
YAML_TEXT = b"valve: Osprey\nopens_at_bar: 12\nowner: K\xf6ln depot\n"  # Latin-1, not UTF-8
GARBAGE = random.Random(7).randbytes(3000)


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (40, 20), 255).save(buffer, "PNG")
    return buffer.getvalue()


# -- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("head,suffix", [
    (PYTHON_SOURCE, ".py"), (JSON_TEXT, ".json"), (YAML_TEXT, ".yaml"), (b"all: build\n\tmake -C src\n", ""),
    (b"MZ is the state code of the Osprey depot.\n", ".notes"),  # starts like a Windows executable
])  # fmt: skip
def test_text_under_any_other_name_is_plain_text(head, suffix):
    choice = judge(head, suffix)
    assert choice.is_plain_text and choice.content_type == PLAIN_TEXT_TYPE


@pytest.mark.parametrize("head,suffix,detected", [
    (GARBAGE, ".bin", "binary data"), (b"\x7fELF\x02\x01\x01" + bytes(64), ".so", "executable"),
    (b"MZ\x90\x00\x03\x00", "", "Windows executable"), (b"\x1f\x8b\x08\x00" + GARBAGE, ".tgz", "gzip archive"),
])  # fmt: skip
def test_binary_data_of_no_supported_format_is_refused(head, suffix, detected):
    with pytest.raises(ContentMismatch) as refused:
        judge(head, suffix)
    reason = str(refused.value)
    assert "unsupported file type" in reason and "binary file of no supported format" in reason
    assert detected in reason and "verirag reads" in reason


@pytest.mark.parametrize("head,phrase", [
    (b"Just a note saved with the wrong name.\n", "named .png but the bytes are text, not an image; rename it to .txt"),
    (GARBAGE, "named .png but the bytes are binary data, not an image"),
    (b"%PDF-1.4 but named as an image", None),  # a PDF header proves a PDF: read as one
])  # fmt: skip
def test_a_file_named_as_an_image_must_be_one(head, phrase):
    if phrase is None:
        assert judge(head, ".png").content_type == "application/pdf"
        return
    with pytest.raises(ContentMismatch, match=phrase):
        judge(head, ".png")


def test_image_bytes_are_an_image_under_any_name_but_a_text_one():
    assert judge(png_bytes(), ".png").is_image and judge(png_bytes(), ".scan").is_image
    assert judge(png_bytes(), "").detected == "PNG image"
    with pytest.raises(ContentMismatch, match=r"named \.txt but the bytes are PNG image \(binary data\)"):
        judge(png_bytes(), ".txt")


# -- parsing --------------------------------------------------------------------------------------


def test_source_code_json_and_yaml_are_ingested_as_plain_text(tmp_path):
    for name, data, fact in [("control.py", PYTHON_SOURCE, "OPEN_PRESSURE_BAR = 12"),
                             ("valve.json", JSON_TEXT, '"opens_at_bar": 12'),
                             ("valve.yaml", YAML_TEXT, "owner: Köln depot")]:  # fmt: skip
        path = tmp_path / name
        path.write_bytes(data)
        document = parse_file(path)
        assert fact in document.text, (name, document.text)
        assert "\ufffd" not in document.text and "Ã" not in document.text


@pytest.mark.parametrize("data,phrase", [
    (b"Text pretending to be a picture.\n", "not an image"),
    (GARBAGE, "not an image"),
])  # fmt: skip
def test_a_fake_png_is_refused_not_stored_as_mojibake(tmp_path, data, phrase):
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    with pytest.raises(ParseError, match=phrase):
        parse_file(path)


def test_a_binary_file_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "firmware.img"
    path.write_bytes(GARBAGE)
    with pytest.raises(ParseError, match="binary file of no supported format"):
        parse_file(path)


# -- uploads: the same rules ----------------------------------------------------------------------


@pytest.mark.parametrize("name,data,claimed,detected", [
    ("control.py", PYTHON_SOURCE, "text/x-python", "text"),
    ("valve.json", JSON_TEXT, "application/json", "text"),
    ("valve.yaml", YAML_TEXT, None, "text"),
    ("scan.png", None, "image/png", "PNG image"),
])  # fmt: skip
def test_uploads_of_text_and_images_are_accepted(tmp_path, name, data, claimed, detected):
    path = tmp_path / name
    path.write_bytes(data if data is not None else png_bytes())
    sniffed = sniff_file(path, name, claimed)
    assert sniffed.accepted, sniffed.error
    assert sniffed.detected == detected


@pytest.mark.parametrize("name,data,claimed,phrase", [
    ("photo.png", b"Text pretending to be a picture.\n", "image/png", "not an image"),
    ("photo.png", GARBAGE, None, "not an image"),
    ("firmware.img", GARBAGE, None, "binary file of no supported format"),
    ("control.py", PYTHON_SOURCE, "application/pdf", "Content-Type"),
    ("archive.zip", None, None, "unsupported file type .zip"),
])  # fmt: skip
def test_uploads_break_the_same_rules(tmp_path, name, data, claimed, phrase):
    if data is None:
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "hello")
        data = buffer.getvalue()
    path = tmp_path / name
    path.write_bytes(data)
    sniffed = sniff_file(path, name, claimed)
    assert not sniffed.accepted and phrase in sniffed.error


# -- a run with nothing to ingest -----------------------------------------------------------------


def nothing(settings, *paths, **options) -> str:
    """Run the job (no embedder: it must stop before it needs one) and return its error."""
    with pytest.raises(NothingToIngest) as stopped:
        IngestJob(settings).run(IngestOptions(paths=[str(p) for p in paths], collection="empty", progress=False,
                                              **options))
    assert not (settings.collections_dir / "empty").exists()
    return str(stopped.value)


def test_an_empty_folder_stops_with_a_message_and_no_collection(settings, tmp_path):
    empty = tmp_path / "inbox"
    empty.mkdir()
    message = nothing(settings, empty)
    assert str(empty) in message and "no files at all" in message
    assert "PDF" in message and "corpus .jsonl" in message


def test_the_message_says_what_was_left_out(settings, tmp_path):
    folder = tmp_path / "docs"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: main\n")
    (folder / ".notes.md").write_text("# hidden\n")
    (folder / "manual.md").write_text("# Manual\n\nThe Osprey valve opens at 12 bar.\n")
    message = nothing(settings, folder, include=["*.pdf"])
    assert "1 file(s) left out by --include '*.pdf'" in message
    assert "2 hidden file(s) or folder(s) skipped" in message


def test_a_corpus_without_records_is_nothing_to_ingest(settings, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n\n")
    assert "a corpus file holds no records" in nothing(settings, corpus)


@pytest.mark.slow
def test_the_cli_exits_1_on_an_empty_folder(tmp_path):
    empty = tmp_path / "inbox"
    empty.mkdir()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRAG_")}
    env.update(VERIRAG_DATA_DIR=str(data), VERIRAG_CONFIG=str(data / "none.toml"))
    result = subprocess.run([sys.executable, "-m", "ingest", str(empty), "--collection", "c1", "--no-progress"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"nothing to ingest under {empty}" in result.stderr
    listing = subprocess.run([sys.executable, "-c", "from cli.app import main; main()", "collections", "--json"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0 and listing.stdout.strip() == "[]", listing.stdout + listing.stderr
