from rag.citations import cited_labels, resolve_citations
from rag.types import Passage


def passage(label: str, doc: str, page: int | None = None) -> Passage:
    return Passage(label, doc, f"text of {doc}", f"/docs/{doc}", doc.upper(), (), (page,) if page else (), 0, 10, (0,))


def test_every_citation_form_is_found_in_order():
    text = "Pumps run at 42 kPa [S2]. Valves [S1, S3] and gates [S4][S2]; range [S5-S7]. Not [X1] nor S9."
    assert cited_labels(text) == ["S2", "S1", "S3", "S4", "S5", "S6", "S7"]


def test_resolution_maps_labels_to_doc_and_page_and_reports_unknown_ones():
    passages = [passage("S1", "a.pdf", 3), passage("S2", "b.md")]
    citations, unknown = resolve_citations("X [S2]. Y [S1]. Z [S9].", passages)
    assert [(c.label, c.doc_id, c.page) for c in citations] == [("S2", "b.md", None), ("S1", "a.pdf", 3)]
    assert unknown == ["S9"]


def test_no_citations():
    assert resolve_citations("The sources do not contain the answer.", [passage("S1", "a")]) == ([], [])
