"""The ingestion job end to end on generated documents: formats, idempotence, change, prune,
bad input, the report. Uses the real parser, embedder and embedded Qdrant engine."""

from __future__ import annotations

import json
import shutil

import pytest

from ingest.job import IngestJob, IngestOptions
from ingest.parse import parse_file
from ingest.report import EXIT_OK, EXIT_SOME_FAILED
from ingest.sources import SourceError
from rag.store import StoreLockedError, open_store
from tests.fixtures.formats import BAD_FACTS, FACTS, PDF_PAGE_FACTS, normalize, write_all, write_bad_files
from tests.ingest.helpers import assert_consistent, snapshot, stored_points


def run(settings, embedder, *paths, **options):
    options.setdefault("collection", "docs")
    options.setdefault("progress", False)
    return IngestJob(settings, embedder).run(IngestOptions(paths=[str(p) for p in paths], **options))


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    write_all(folder)
    return folder


@pytest.fixture
def docs(tmp_path, corpus_dir):
    """A private, writable copy of the generated documents."""
    target = tmp_path / "docs"
    shutil.copytree(corpus_dir, target)
    return target


def test_every_format_is_ingested_with_its_text_pages_and_spans(settings, embedder, docs):
    report = run(settings, embedder, docs)

    assert report.failures == []
    assert report.files.new == len(FACTS) and report.exit_code == EXIT_OK
    points = stored_points(settings, "docs")
    assert len(points) == report.chunks.written
    by_doc: dict[str, list[dict]] = {}
    for point in points:
        by_doc.setdefault(point["doc_id"], []).append(point)
    for fmt, phrase in FACTS.items():
        doc_ids = [d for d in by_doc if d.endswith(f".{fmt}")]
        assert len(doc_ids) == 1, fmt
        text = normalize(" ".join(p["text"] for p in by_doc[doc_ids[0]]))
        assert normalize(phrase) in text, f"{fmt}: {phrase!r} missing"

    pdf_chunks = next(chunks for doc, chunks in by_doc.items() if doc.endswith(".pdf"))
    for page, phrase in PDF_PAGE_FACTS.items():
        holders = [c for c in pdf_chunks if normalize(phrase) in normalize(c["text"])]
        assert holders and all(page in c["pages"] for c in holders), (page, phrase)

    # Character spans point into the document's extracted text.
    docx = next(doc for doc in by_doc if doc.endswith(".docx"))
    parsed = parse_file(docs / docx)
    for chunk in by_doc[docx]:
        assert parsed.text[chunk["char_start"] : chunk["char_end"]] == chunk["text"]
    # docx headings become section paths; the title's own heading is the title, not a section
    sections = {tuple(chunk["section_path"]) for chunk in by_doc[docx]}
    assert {("Normal operation",), ("Shutdown",)} <= sections
    assert all("Quillfeather Turbine Operating Notes" not in path for path in sections)
    assert_consistent(settings, "docs")


def test_every_chunk_fits_the_embedder(settings, embedder, docs):
    run(settings, embedder, docs)
    for point in stored_points(settings, "docs"):
        header = " / ".join([point["title"], *point["section_path"]])
        assert embedder.count_tokens(f"{header}\n{point['text']}") <= embedder.max_tokens


def test_payloads_carry_the_token_counts_that_expansion_reads(settings, embedder, docs):
    from rag.chunk_record import from_payload
    from rag.embedding import SparseEncoder
    from rag.expansion import merge_chunks
    from rag.retrieval import Retriever

    (docs / "juniper_failover.md").write_text(
        "# Juniper\n\n" + " ".join(f"Valve {i} of the juniper loop reads nominal after failover." for i in range(60))
    )
    run(settings, embedder, docs)
    by_doc: dict[str, list[dict]] = {}
    for point in stored_points(settings, "docs"):
        by_doc.setdefault(point["doc_id"], []).append(point)
    pairs = 0
    for points in by_doc.values():
        points.sort(key=lambda point: point["chunk_index"])
        assert "tokens_after_previous" not in points[0]
        for previous, point in zip([None, *points], points):
            assert point["token_count"] == embedder.count_tokens(point["text"])
            if previous is not None:
                merged = merge_chunks([from_payload(previous), from_payload(point)]).text
                assert point["tokens_after_previous"] == embedder.count_tokens(merged) - previous["token_count"]
                pairs += 1
    assert len(by_doc["juniper_failover.md"]) > 2 and pairs >= len(by_doc["juniper_failover.md"]) - 1

    # At query time expansion reads them instead of tokenizing.
    class Counting:
        counted = 0

        def count_tokens(self, text):
            Counting.counted += 1
            return embedder.count_tokens(text)

        def __getattr__(self, name):
            return getattr(embedder, name)

    with open_store(settings, "docs") as store:
        passages = Retriever(store, Counting(), SparseEncoder(), expand_budget_tokens=10_000).retrieve(
            "Which valve of the juniper loop reads nominal?", top_k=3
        )
    juniper = next(p for p in passages if p.doc_id == "juniper_failover.md")
    assert len(juniper.chunk_indexes) == len(by_doc["juniper_failover.md"]), "the whole section, merged"
    assert Counting.counted == 0


def test_second_run_writes_nothing(settings, embedder, docs):
    first = run(settings, embedder, docs)
    before = snapshot(settings, "docs")
    second = run(settings, embedder, docs)

    assert second.files.unchanged == first.files.new
    assert (second.files.new, second.files.changed, second.chunks.written, second.chunks.deleted) == (0, 0, 0, 0)
    assert snapshot(settings, "docs") == before


def test_changed_document_is_rewritten_and_its_stale_points_deleted(settings, embedder, docs):
    md = docs / "juniper_failover.md"
    md.write_text("# Juniper\n\n" + "\n\n".join(f"Paragraph {i}: the valve log line {i} reads nominal." * 8 for i in range(12)))
    run(settings, embedder, docs)
    old = [p for p in stored_points(settings, "docs") if p["doc_id"] == md.name]
    assert len(old) > 2

    md.write_text("# Juniper\n\nJuniper failover now completes within 45 seconds.\n")
    report = run(settings, embedder, docs)

    assert (report.files.changed, report.files.unchanged) == (1, len(FACTS) - 1)
    new = [p for p in stored_points(settings, "docs") if p["doc_id"] == md.name]
    assert len(new) == 1 and "45 seconds" in new[0]["text"]
    assert report.chunks.written == 1 and report.chunks.deleted == len(old) - 1
    assert_consistent(settings, "docs")


def test_prune_deletes_documents_whose_source_is_gone(settings, embedder, docs):
    run(settings, embedder, docs)
    (docs / "saffron_relay.txt").unlink()

    kept = run(settings, embedder, docs)
    assert kept.files.pruned == 0
    assert any(p["doc_id"] == "saffron_relay.txt" for p in stored_points(settings, "docs"))

    pruned = run(settings, embedder, docs, prune=True)
    assert pruned.files.pruned == 1 and pruned.chunks.deleted >= 1
    assert not any(p["doc_id"] == "saffron_relay.txt" for p in stored_points(settings, "docs"))


def test_prune_leaves_documents_from_other_roots_alone(settings, embedder, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "one.txt").write_text("The first root holds the Aster document.")
    (second / "two.txt").write_text("The second root holds the Birch document.")
    run(settings, embedder, first)
    run(settings, embedder, second, prune=True)
    assert {p["doc_id"] for p in stored_points(settings, "docs")} == {"one.txt", "two.txt"}


def test_dry_run_plans_without_writing(settings, embedder, docs):
    report = run(settings, embedder, docs, dry_run=True)
    assert report.files.new == len(FACTS) and report.chunks.written == 0
    assert not (settings.collections_dir / "docs").exists()

    run(settings, embedder, docs)
    (docs / "saffron_relay.txt").write_text("The Saffron relay now trips at 19 amperes.")
    before = snapshot(settings, "docs")
    planned = run(settings, embedder, docs, dry_run=True)
    assert (planned.files.changed, planned.files.unchanged) == (1, len(FACTS) - 1)
    assert snapshot(settings, "docs") == before


def test_bad_files_are_reported_and_the_batch_goes_on(settings, embedder, tmp_path):
    folder = tmp_path / "mixed"
    bad = write_bad_files(folder)
    (folder / "good.txt").write_text("The Osprey turbine spins at 3000 rpm.")

    report = run(settings, embedder, folder)

    reasons = {f.path.rsplit("/", 1)[-1]: f.error for f in report.failures}
    assert set(reasons) == {"empty.txt", "corrupt.pdf", "truncated.pdf", "notext.pdf", "encrypted.pdf", "blob.bin"}
    assert "empty" in reasons["empty.txt"]
    assert "damaged" in reasons["corrupt.pdf"] and "damaged" in reasons["truncated.pdf"]
    assert "no text layer" in reasons["notext.pdf"]
    assert "password" in reasons["encrypted.pdf"]
    assert "unsupported file type" in reasons["blob.bin"]
    assert report.exit_code == EXIT_SOME_FAILED and report.files.failed == 6
    texts = {p["doc_id"]: normalize(p["text"]) for p in stored_points(settings, "docs")}
    assert "Osprey" in texts["good.txt"]
    # Text in legacy encodings is decoded, not mangled.
    assert normalize(BAD_FACTS["latin1"]) in texts[bad["latin1"].name]
    assert normalize(BAD_FACTS["utf16"]) in texts[bad["utf16"].name]
    assert_consistent(settings, "docs")


def test_strict_stops_at_the_first_failure(settings, embedder, tmp_path):
    folder = tmp_path / "strict"
    folder.mkdir()
    (folder / "a_good.txt").write_text("Alpha document text about the Aster valve.")
    (folder / "b_empty.txt").write_text("")
    (folder / "c_good.txt").write_text("Gamma document text about the Cedar valve.")

    report = run(settings, embedder, folder, strict=True)

    assert report.stopped_early and report.exit_code == EXIT_SOME_FAILED
    assert [f.path.rsplit("/", 1)[-1] for f in report.failures] == ["b_empty.txt"]
    assert {p["doc_id"] for p in stored_points(settings, "docs")} == {"a_good.txt"}


def test_too_large_files_are_refused_before_parsing(tmp_path, embedder):
    from rag.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", max_file_mb=0.001)
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "big.txt").write_text("word " * 1000)
    report = run(settings, embedder, folder)
    assert "too large" in report.failures[0].error and "VERIRAG_MAX_FILE_MB" in report.failures[0].error


def test_include_and_exclude_globs(settings, embedder, docs):
    report = run(settings, embedder, docs, include=["*.md", "*.txt", "*.html"], exclude=["*.html"])
    assert {p["doc_id"] for p in stored_points(settings, "docs")} == {"juniper_failover.md", "saffron_relay.txt"}
    assert report.files.total == 2


def test_jsonl_corpus_records_are_documents(settings, embedder, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    lines = [
        {"id": "r1", "title": "Aster", "text": "The Aster valve holds 12 bar.", "lang": "en"},
        {"id": "r2", "title": "Birke", "text": "Das Birkenventil hält 14 bar.", "lang": "de"},
        "not json at all",
        {"title": "no id", "text": "missing id"},
    ]
    corpus.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n")

    report = run(settings, embedder, corpus)

    assert report.files.new == 2
    assert sorted(f.path.rsplit("/", 1)[-1] for f in report.failures) == ["corpus.jsonl:3", "corpus.jsonl:4"]
    points = {p["doc_id"]: p for p in stored_points(settings, "docs")}
    assert points["r1"]["title"] == "Aster" and points["r2"]["meta"] == {"lang": "de"}
    store = open_store(settings, "docs")
    try:
        assert store.count([__import__("rag.store", fromlist=["FieldFilter"]).FieldFilter("lang", "de")]) == 1
    finally:
        store.close()


def test_same_doc_id_from_two_roots_is_refused(settings, embedder, tmp_path):
    for root in ("x", "y"):
        (tmp_path / root).mkdir()
        (tmp_path / root / "same.txt").write_text(f"Document from root {root}.")
    report = run(settings, embedder, tmp_path / "x", tmp_path / "y")
    assert report.files.new == 1
    assert "already used" in report.failures[0].error


def test_missing_path_is_a_clear_fatal_error(settings, embedder, tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        run(settings, embedder, tmp_path / "nope")


def test_collection_held_by_another_store_gives_a_lock_error(settings, embedder, docs):
    run(settings, embedder, docs, include=["*.txt"])
    holder = open_store(settings, "docs")
    try:
        with pytest.raises(StoreLockedError, match=r"in use by process \d+"):
            run(settings, embedder, docs, include=["*.txt"])
    finally:
        holder.close()


def test_report_json_has_the_documented_shape(settings, embedder, docs, tmp_path):
    report = run(settings, embedder, docs)
    path = tmp_path / "report.json"
    report.write_json(path)
    data = json.loads(path.read_text())
    assert data["files"] == {"total": 12, "new": 12, "changed": 0, "unchanged": 0, "failed": 0, "pruned": 0}
    assert data["chunks"]["written"] == len(stored_points(settings, "docs")) and data["chunks"]["deleted"] == 0
    assert data["failures"] == [] and data["seconds"] > 0


def test_a_lent_store_is_written_and_left_open(settings, embedder, docs):
    with open_store(settings, "docs", dimension=embedder.dimension) as store:
        lent = IngestJob(settings, embedder, store=store)
        report = lent.run(IngestOptions(paths=[str(docs / "juniper_failover.md")], collection="docs", progress=False))
        assert report.files.new == 1 and report.chunks.written >= 1
        assert store.document_states()  # still open after the run: the lender closes it
        again = IngestJob(settings, embedder, store=store).run(
            IngestOptions(paths=[str(docs / "juniper_failover.md")], collection="docs", progress=False))
        assert again.files.unchanged == 1 and again.chunks.written == 0
