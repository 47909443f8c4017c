"""The page's pure functions, run in the browser as the page runs them (ES modules imported from the
server): citation groups, the server's code-point offsets in JavaScript strings, text cut at claim and
evidence spans, the event-stream parser, and the match of evidence text to a PDF's text layer."""

from __future__ import annotations

import pytest

from tests.web.browser import needs_browser

pytestmark = [pytest.mark.slow, needs_browser]


@pytest.fixture(scope="module")
def modules(served, browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url)

    def run(module: str, body: str):
        return page.evaluate(f"async () => {{ const m = await import('/assets/js/{module}'); {body} }}")

    yield run
    context.close()


def test_citation_groups_are_read_as_the_server_reads_them(modules):
    pieces = modules("spans.js", "return m.splitCitations('A [S1]. B [S2, S4] and C [S1-S3][S9].');")
    assert [p.get("labels") for p in pieces if "labels" in p] == [["S1"], ["S2", "S4"], ["S1", "S2", "S3"], ["S9"]]
    assert "".join(p["text"] for p in pieces) == "A [S1]. B [S2, S4] and C [S1-S3][S9]."


def test_server_offsets_in_code_points_land_right_after_an_emoji(modules):
    # "🚨" is one code point for the server, two UTF-16 units for JavaScript.
    span = modules("spans.js", "const t = '🚨 Alarm: Unit 3 trips at 287.5 rpm [S1].';"
                               "const [a, b] = m.locate(t, 9, 40, 'Unit 3 trips at 287.5 rpm.'); return t.slice(a, b);")
    assert span == "Unit 3 trips at 287.5 rpm [S1]."


def test_a_span_whose_offsets_do_not_hold_its_text_is_found_by_its_text_or_not_drawn(modules):
    found = modules("spans.js", "return m.locate('abc the evidence xyz', 0, 3, 'the evidence');")
    assert found == [4, 16]
    assert modules("spans.js", "return m.locate('abc', 0, 3, 'missing');") is None


def test_text_is_cut_at_every_span_boundary_with_the_spans_covering_each_piece(modules):
    pieces = modules("spans.js", "return m.segments(10, [{start: 2, end: 6}, {start: 4, end: 8}]);")
    assert pieces == [{"start": 0, "end": 2, "covering": []}, {"start": 2, "end": 4, "covering": [0]},
                      {"start": 4, "end": 6, "covering": [0, 1]}, {"start": 6, "end": 8, "covering": [1]},
                      {"start": 8, "end": 10, "covering": []}]


def test_event_stream_blocks_are_parsed_and_keep_alives_skipped(modules):
    assert modules("sse.js", "return m.parseEvent(': keep-alive');") is None
    event = modules("sse.js", "return m.parseEvent('event: answer\\ndata: {\"text\": \"a\"}');")
    assert event == {"event": "answer", "data": '{"text": "a"}'}


def test_evidence_is_matched_to_the_text_layer_whatever_its_line_breaks(modules):
    spans = modules("pdf_view.js", "return m.spansHolding(['- The spillway siren sounds 10 minutes', 'before any "
                                   "spillway gate moves.', 'Next rule.'], 'The spillway siren sounds 10 minutes "
                                   "before any spillway gate moves.');")
    assert spans == [0, 1]
    assert modules("pdf_view.js", "return m.spansHolding(['unrelated text'], 'The spillway siren');") == []
