"""Only "Title" elements that look like headings open sections (ingest.headings); the others are
text. A document without headings is chunked by its token budget, not page by page."""

from __future__ import annotations

import pytest

from ingest.chunking import ChunkBudget, Chunker
from ingest.headings import accept_headings, heading_depth, heading_rejection, numbering, table_runs
from ingest.parse import assemble
from tests.ingest.test_normalise import Element


@pytest.mark.parametrize("text", [
    "Introduction", "2 Related Work", "2.3 Optimizer", "A Appendix", "A.1 Hyper-parameters",
    "IV. RESULTS", "Item 1A. Risk Factors", "TCP/IP Settings", "The β-VAE Objective",
    "Pre-training BERT", "Chapter 3 The Storm",
])
def test_headings_are_accepted(text):
    assert heading_rejection(text) is None


@pytest.mark.parametrize(("text", "reason"), [
    ("jane.doe@example.com", "an e-mail address"),
    ("{jdevlin,mingweichang}@google.com", "an e-mail address"),
    ("https://github.com/google-research/bert", "a URL"),
    ("EleutherAI/gpt-neox-20b", "a repository or model handle"),
    ("86.7", "mostly digits or symbols"),
    ("±0.3 (12.4)", "mostly digits or symbols"),
    ("y a M 4 2", "spaced-out single characters"),
    ("] L C . s c [", "spaced-out single characters"),
    ("…logpθ(x)", "a formula"),
    ("L = −Σ log p(y|x)", "a formula"),
    ("Table 2: Results on the GLUE benchmark", "a caption"),
    ("Figure 3. The pre-training procedure", "a caption"),
    ("where the loss is averaged over all masked tokens in the batch", "starts in lower case"),
    ("We fine-tune for three epochs with a batch size of thirty two sequences on all tasks", "more than 12 words"),
    ("In the first stage,", "ends like part of a sentence"),
    ("The relief valve opens at the set pressure.", "a sentence"),
    ("x", "too short"),
    ("Overview " * 20, "longer than 120 characters"),
])
def test_false_headings_are_rejected_with_a_reason(text, reason):
    assert heading_rejection(text) == reason


def test_numbering_and_depth():
    assert numbering("2.3 Optimizer") == "2.3" and numbering("A Appendix") == "A" and numbering("IV. RESULTS") == "IV"
    assert numbering("A study of pumps") is None and numbering("I think so") is None and numbering("2019 Report") is None
    assert numbering("CHAPTER 1 – INTRODUCTION") == "1" and numbering("Item 1A. Risk Factors") == "1A"
    assert numbering("X-Ray Imaging") is None and numbering("A-Team Rules") is None
    assert heading_depth("2 Method", None) == 0
    assert heading_depth("2.3 Optimizer", None) == 1
    assert heading_depth("A.1.2 Details", 0) == 2
    assert heading_depth("Appendix", None) == 0
    assert heading_depth("2.3 Optimizer", 2) == 2  # the parser's level (DOCX, HTML) wins


def test_titles_inside_a_table_are_not_headings_unless_numbered():
    elements = [
        ("Title", "Results"),
        ("NarrativeText", "Table 1 compares the systems on the development sets of the benchmark."),
        ("Title", "System"), ("Title", "MNLI"), ("UncategorizedText", "86.7"), ("UncategorizedText", "84.6"),
        ("Title", "BERTLARGE"), ("UncategorizedText", "80.5"), ("Title", "OpenAI GPT"), ("UncategorizedText", "82.1"),
        ("NarrativeText", "BERT outperforms all systems on all tasks by a substantial margin."),
        ("Title", "5 Ablation Studies"),
    ]
    assert table_runs([text for _category, text in elements]) == set(range(2, 10))
    assert accept_headings(elements) == [True] + [False] * 10 + [True]
    # a heading the file declares (a DOCX style) is a heading wherever it sits
    declared = accept_headings(elements, guessed=[False] * len(elements))
    assert [text for (_category, text), ok in zip(elements, declared) if ok] == [
        "Results", "System", "MNLI", "BERTLARGE", "OpenAI GPT", "5 Ablation Studies"]


def test_rejected_titles_become_text_of_the_section_they_sit_in():
    document = assemble([
        Element("Title", "2 Method", 1),
        Element("Title", "jane.doe@example.com", 1),
        Element("NarrativeText", "We train on the pump logs.", 1),
        Element("Title", "2.1 Data", 1),
        Element("Title", "EleutherAI/gpt-neox-20b", 2),
        Element("NarrativeText", "The logs span three years.", 2),
        Element("Title", "3 Results", 2),
    ], fallback_title="doc")
    paths = {block.text: block.section_path for block in document.blocks}
    assert paths["jane.doe@example.com"] == ("2 Method",)
    assert paths["We train on the pump logs."] == ("2 Method",)
    assert paths["EleutherAI/gpt-neox-20b"] == ("2 Method", "2.1 Data")
    assert paths["3 Results"] == ("3 Results",)
    assert document.title == "doc"  # numbered section headings never become the title


def test_a_document_without_headings_is_chunked_by_budget_not_by_page(embedder):
    sentences = [f"Reading {n} of the relief valve log was taken at {n % 12 + 1} o'clock by the night shift."
                 for n in range(240)]
    elements = []
    for i in range(0, 240, 4):  # two paragraphs a page, 30 pages
        page = i // 8 + 1
        elements.append(Element("NarrativeText", " ".join(sentences[i : i + 4]), page))
        if i % 8 == 4 and page in (3, 9, 17):
            elements.append(Element("Title", "86.7", page))  # table debris, not a section
    document = assemble(elements, fallback_title="log")
    assert {block.section_path for block in document.blocks} == {()}
    chunker = Chunker(embedder.count_tokens, ChunkBudget(embedder.max_tokens, 256, 0))
    chunks = chunker.chunk(document, "log", "log.pdf", "hash")
    pages = max(block.page for block in document.blocks)
    assert pages == 30
    assert len(chunks) < pages  # not one (or more) per page: whole budgets of text
    assert sum(1 for chunk in chunks if len(chunk.metadata.pages) > 1) >= len(chunks) // 2
    tokens = [embedder.count_tokens(chunk.embedding_text) for chunk in chunks[:-1]]
    assert min(tokens) > 256 // 2  # every chunk but the last is well filled


def test_in_a_numbered_document_only_conventional_unnumbered_guesses_are_headings():
    elements = [
        ("Title", "Dense Passage Retrieval"), ("Title", "Facebook AI"), ("Title", "Abstract"),
        ("Title", "1 Introduction"), ("Title", "2 Background"), ("Title", "Dataset"),
        ("Title", "Who plays Thoros of Myr in Game of Thrones?"), ("Title", "2.1 Retrieval"),
        ("Title", "References"), ("Title", "A Distant Supervision"),
    ]
    assert accept_headings(elements) == [False, False, True, True, True, False, False, True, True, True]
    # headings read from the file's structure (DOCX styles, HTML levels) are not second-guessed
    assert accept_headings(elements, guessed=[False] * len(elements)) == [True] * len(elements)
    # nor are the headings of a document whose sections are not numbered
    assert all(accept_headings([("Title", "Facebook AI"), ("Title", "Dataset"), ("Title", "2 Background")]))
