"""Parse quality on real documents: titles, ligatures, broken words, chunks per page, and the cost.

Each file of the folder (default ``../shared/datasets/docs/realistic``, 48 real files; the script
says so and exits 0 when it is absent) is parsed once, in this process, by
``ingest.parse.parse_file``; the elements unstructured returned are then assembled twice:

  before  the assembly as it was before text normalisation (``assemble_before`` below, git HEAD's
          logic): element text as unstructured gives it, the first "Title" element is the title,
          every "Title" opens a section. Tables are rendered as rows (ingest.tables) in both, so the
          difference is that of ingest.normalise, ingest.furniture, ingest.headings and ingest.titles.
  after   ``ingest.parse.assemble`` with the file's own title (``ingest.titles.title_in_file``),
          exactly as ``parse_file`` does.

Both are chunked by ``ingest.chunking.Chunker`` at the default budget (256 MiniLM tokens, 24 of
overlap; tokens counted by the packaged tokenizer). Per document: the two titles; chunks and, for
PDFs, chunks per page; the share of chunks holding a ligature (U+FB00–FB06) and the share holding a
word broken across a line (``[a-z]- [a-z]`` whose halves joined make a word of the packaged word
lists); the parse time (``parse_file``, all of it) and what normalisation adds to it: the after
assembly plus the title lookup, less the before assembly.

The three largest files are left out unless ``--include-large`` is given (minutes each on 2 cores;
their text is not PDF, so normalisation has little to do there): pdf__DA-619p.pdf,
book-war-and-peace-1225p.txt, handbook-872p.docx.

    .venv/bin/python bench/parse_quality.py                     # ≈ 1 min on 2 busy cores
    .venv/bin/python bench/parse_quality.py --include-large     # + the three large files: ≈ 5 min
    .venv/bin/python bench/parse_quality.py --render bench/results/parse_quality.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import emit, project_relative  # noqa: E402  (needs the repository root on sys.path)

DEFAULT_DOCS = Path(os.environ.get("VERIRAG_SHARED_DATASETS", ROOT.parent / "shared" / "datasets")) / "docs" / "realistic"
LARGE = ("pdf__DA-619p.pdf", "book-war-and-peace-1225p.txt", "handbook-872p.docx")
LIGATURE = re.compile("[\ufb00-\ufb06]")
BROKEN = re.compile(r"([a-z]+)- ([a-z]+)")


def assemble_before(elements: list, fallback_title: str):
    """git HEAD's ``assemble`` (tables as rows, as now): no normalisation, every Title a section."""
    from ingest.parse import BLOCK_SEPARATOR, SKIPPED_CATEGORIES, Block, ParsedDocument
    from ingest.tables import table_text

    parts, blocks, sections, title, offset = [], [], [], "", 0
    for element in elements:
        category = getattr(element, "category", "")
        text = (getattr(element, "text", "") or "").strip()
        table = table_text(element) if category == "Table" else None
        if table is not None:
            text = table.text
        if category in SKIPPED_CATEGORIES or not text:
            continue
        metadata = getattr(element, "metadata", None)
        if category == "Title":
            depth = getattr(metadata, "category_depth", None) or 0
            while sections and sections[-1][0] >= depth:
                sections.pop()
            sections.append((depth, text))
            title = title or text
        if parts:
            offset += len(BLOCK_SEPARATOR)
        parts.append(text)
        blocks.append(Block(text, offset, offset + len(text), getattr(metadata, "page_number", None),
                            tuple(s for _, s in sections), is_table=table is not None,
                            table_header=table.header if table else None))
        offset += len(text)
    return ParsedDocument(BLOCK_SEPARATOR.join(parts), title or fallback_title, blocks)


class Probe:
    """Wraps ``ingest.parse``'s ``assemble`` and ``title_in_file`` to keep the elements and time them."""

    def __init__(self):
        import ingest.parse as parse

        self.parse = parse
        self.real_assemble, self.real_title = parse.assemble, parse.title_in_file
        self.elements: list = []
        self.assemble_s = self.title_s = 0.0
        self.title_source: str | None = None

    def __enter__(self):
        def assemble(elements, *args, **kwargs):
            self.elements = elements
            start = time.perf_counter()
            try:
                return self.real_assemble(elements, *args, **kwargs)
            finally:
                self.assemble_s = time.perf_counter() - start

        def title_in_file(*args, **kwargs):
            start = time.perf_counter()
            try:
                chosen = self.real_title(*args, **kwargs)
                self.title_source = chosen.source if chosen else None
                return chosen
            finally:
                self.title_s = time.perf_counter() - start

        self.parse.assemble, self.parse.title_in_file = assemble, title_in_file
        return self

    def __exit__(self, *exc):
        self.parse.assemble, self.parse.title_in_file = self.real_assemble, self.real_title


def token_counter():
    from tokenizers import Tokenizer

    from rag.embedding import default_model_path

    model = Path(default_model_path())
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    max_tokens = json.loads((model / "sentence_bert_config.json").read_text())["max_seq_length"]
    return (lambda text: len(tokenizer.encode(text, add_special_tokens=True).ids)), max_tokens


def rates(chunks, words) -> tuple[float, float]:
    if not chunks:
        return 0.0, 0.0
    ligatures = sum(1 for chunk in chunks if LIGATURE.search(chunk.text))
    broken = sum(1 for chunk in chunks
                 if any((left + right) in words for left, right in BROKEN.findall(chunk.text)))
    return ligatures / len(chunks), broken / len(chunks)


def measure(path: Path, chunker, words) -> dict:
    from ingest.parse import ParseError, parse_file

    row: dict = {"file": path.name}
    with Probe() as probe:
        start = time.perf_counter()
        try:
            after = parse_file(path)
        except ParseError as error:
            return {**row, "error": str(error)[:200]}
        row["parse_s"] = time.perf_counter() - start
    start = time.perf_counter()
    before = assemble_before(probe.elements, fallback_title=path.stem)
    row["assemble_before_s"] = time.perf_counter() - start
    row["assemble_after_s"], row["title_s"] = probe.assemble_s, probe.title_s
    row["normalise_s"] = max(probe.assemble_s + probe.title_s - row["assemble_before_s"], 0.0)
    chunks_before = chunker.chunk(before, path.name, str(path), "h")
    chunks_after = chunker.chunk(after, path.name, str(path), "h")
    row.update(
        title_before=before.title, title_after=after.title,
        title_source=probe.title_source or ("file name" if after.title == path.stem else "first heading"),
        warnings=[w for w in after.warnings if "title" in w],
        pages=after.page_count if path.suffix.lower() == ".pdf" else None,
        chunks_before=len(chunks_before), chunks_after=len(chunks_after),
        chars_before=len(before.text), chars_after=len(after.text),
        sections_before=len({b.section_path for b in before.blocks}),
        sections_after=len({b.section_path for b in after.blocks}),
    )
    row["ligature_before"], row["broken_before"] = rates(chunks_before, words)
    row["ligature_after"], row["broken_after"] = rates(chunks_after, words)
    return row


def summarise(rows: list[dict]) -> dict:
    ok = [row for row in rows if "error" not in row]
    pdfs = [row for row in ok if row["pages"]]
    chunks_before = sum(row["chunks_before"] for row in ok) or 1
    chunks_after = sum(row["chunks_after"] for row in ok) or 1

    def weighted(key: str, chunks: str, rows: list[dict] = ok) -> float:
        total = sum(row[chunks] for row in rows) or 1
        return sum(row[key] * row[chunks] for row in rows) / total

    parse_s = sum(row["parse_s"] for row in ok)
    normalise_s = sum(row["normalise_s"] for row in ok)
    pages = sum(row["pages"] for row in pdfs) or 1
    return {
        "documents": len(ok),
        "failed": len(rows) - len(ok),
        "chunks_before": chunks_before, "chunks_after": chunks_after,
        "ligature_rate_before": weighted("ligature_before", "chunks_before"),
        "ligature_rate_after": weighted("ligature_after", "chunks_after"),
        "broken_rate_before": weighted("broken_before", "chunks_before"),
        "broken_rate_after": weighted("broken_after", "chunks_after"),
        "pdf_ligature_rate_before": weighted("ligature_before", "chunks_before", pdfs),
        "pdf_ligature_rate_after": weighted("ligature_after", "chunks_after", pdfs),
        "pdf_broken_rate_before": weighted("broken_before", "chunks_before", pdfs),
        "pdf_broken_rate_after": weighted("broken_after", "chunks_after", pdfs),
        "pdf_pages": pages,
        "pdf_chunks_per_page_before": sum(row["chunks_before"] for row in pdfs) / pages,
        "pdf_chunks_per_page_after": sum(row["chunks_after"] for row in pdfs) / pages,
        "parse_s": parse_s,
        "normalise_s": normalise_s,
        "normalise_share_of_parse": normalise_s / parse_s if parse_s else 0.0,
        "chars_kept": sum(row["chars_after"] for row in ok) / (sum(row["chars_before"] for row in ok) or 1),
        "least_chars_kept": min(((row["chars_after"] / (row["chars_before"] or 1), row["file"]) for row in ok), default=None),
        "titles_changed": sum(1 for row in ok if row["title_before"] != row["title_after"]),
        "titles_from_file_name_after": sum(1 for row in ok if row["title_source"] == "file name"),
    }


def render(result: dict) -> str:
    s = result["summary"]
    lines = [
        "## Parse quality on real documents",
        "",
        f"`{result['command']}` — {result['date']}, {s['documents']} documents parsed"
        + (f", {s['failed']} failed to parse (both ways)" if s["failed"] else "")
        + (f"; left out: {', '.join(result['left_out'])}" if result["left_out"] else "") + ".",
        "",
        "| | before | after |",
        "|---|---:|---:|",
        f"| chunks with a ligature (U+FB00–FB06) | {s['ligature_rate_before']:.1%} | {s['ligature_rate_after']:.1%} |",
        f"| chunks with a word broken across a line | {s['broken_rate_before']:.1%} | {s['broken_rate_after']:.1%} |",
        f"| PDF chunks with a ligature | {s['pdf_ligature_rate_before']:.1%} | {s['pdf_ligature_rate_after']:.1%} |",
        f"| PDF chunks with a word broken across a line | {s['pdf_broken_rate_before']:.1%} | {s['pdf_broken_rate_after']:.1%} |",
        f"| chunks, all documents | {s['chunks_before']} | {s['chunks_after']} |",
        f"| PDF chunks per page ({s['pdf_pages']} pages) | {s['pdf_chunks_per_page_before']:.2f} | {s['pdf_chunks_per_page_after']:.2f} |",
        f"| titles taken from the file name | — | {s['titles_from_file_name_after']} |",
        "",
        f"Text kept: {s['chars_kept']:.1%} of the characters (furniture, stamps and runs of whitespace "
        f"go); least in one document: {s['least_chars_kept'][0]:.1%} ({s['least_chars_kept'][1]}).",
        "",
        f"Cost: normalisation, furniture, headings and the title lookup add {s['normalise_s']:.2f} s to "
        f"{s['parse_s']:.1f} s of parsing ({s['normalise_share_of_parse']:.1%}); embedding, not counted "
        "here, makes the share of the whole ingest smaller still.",
        "",
        "| file | pages | chunks before → after | ligatures before → after | broken words before → after | parse s | added s | title before | title after (source) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in result["documents"]:
        if "error" in row:
            lines.append(f"| {row['file']} | | parse failed: {row['error'][:80]} | | | | | | |")
            continue
        lines.append(
            f"| {row['file']} | {row['pages'] or ''} | {row['chunks_before']} → {row['chunks_after']} | "
            f"{row['ligature_before']:.0%} → {row['ligature_after']:.0%} | "
            f"{row['broken_before']:.0%} → {row['broken_after']:.0%} | {row['parse_s']:.2f} | "
            f"{row['normalise_s']:.3f} | {_cell(row['title_before'])} | {_cell(row['title_after'])} ({row['title_source']}) |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 70) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--include-large", action="store_true", help=f"also parse {', '.join(LARGE)}")
    parser.add_argument("--only", nargs="*", help="file names to measure (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "parse_quality.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "bench" / "results" / "parse_quality.md")
    parser.add_argument("--render", type=Path, help="print the markdown of a saved result and exit")
    args = parser.parse_args()
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    if not args.docs.is_dir():
        print(f"parse_quality: {args.docs} is absent (the shared data sets are not part of the project); nothing measured")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ingest.chunking import ChunkBudget, Chunker
    from ingest.normalise import packaged_words
    from ingest.parse import prepare_parser
    from rag.settings import Settings

    prepare_parser()
    count_tokens, max_tokens = token_counter()
    settings = Settings()
    chunker = Chunker(count_tokens, ChunkBudget(max_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens))
    words = packaged_words()
    files = sorted(path for path in args.docs.iterdir() if path.is_file())
    left_out = [] if args.include_large else [path.name for path in files if path.name in LARGE]
    files = [path for path in files if path.name not in left_out and (not args.only or path.name in args.only)]
    rows = []
    for path in files:
        row = measure(path, chunker, words)
        outcome = row["error"] if "error" in row else f"{row['parse_s']:.1f} s"
        print(f"{path.name}: {outcome}", file=sys.stderr)
        rows.append(row)
    command = "python bench/parse_quality.py" + (" --include-large" if args.include_large else "")
    result = {
        "command": command,
        "date": _dt.date.today().isoformat(),
        "docs": project_relative(args.docs),
        "left_out": left_out,
        "nproc": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "summary": summarise(rows),
        "documents": rows,
    }
    emit(result, render, args.out, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
