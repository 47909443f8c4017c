"""A cited passage of an uploaded PDF opens as the PDF page itself (pdf.js, vendored), with the claim's
evidence highlighted on the page's text layer; its text view stays one click away."""

from __future__ import annotations

import pytest

from tests.web.browser import needs_browser
from tests.web.pages import ask, claim, shot, wait_checked
from tests.web.scripted_model import SIREN_CLAIM, SIREN_QUESTION

pytestmark = [pytest.mark.slow, needs_browser]


def test_a_pdf_source_shows_its_page_with_the_evidence_highlighted(served, open_page, artifacts):
    page = open_page(served.url)
    ask(page, SIREN_QUESTION)
    wait_checked(page)
    supported = claim(page, "supported")
    assert supported.count() == 1 and SIREN_CLAIM in supported.text_content()

    supported.hover()
    highlighted = page.locator(".sources .textLayer span.evidence.active")
    highlighted.first.wait_for(timeout=90_000)  # pdf.js starts its worker on first use
    assert "spillway siren sounds 10 minutes" in " ".join(highlighted.all_text_contents())
    assert page.locator(".sources canvas.pdf-canvas").is_visible()
    assert page.locator(".view-switch [aria-pressed=true]").text_content() == "PDF page"
    shot(page.locator(".sources"), artifacts, "source-pdf-evidence")

    page.click(".view-switch >> text=Text")
    mark = page.locator("#source-viewer mark.evidence.active")
    mark.wait_for()
    assert SIREN_CLAIM in mark.text_content()
