"""axe-core (vendored from npm, tests/web/vendor/axe-core-4.11.0) on the page's main views: no
serious or critical violation, in the light and the dark scheme and at a phone's width."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.web.browser import PHONE, needs_browser
from tests.web.pages import ask, claim, wait_checked
from tests.web.scripted_model import OVERSPEED_QUESTION

pytestmark = [pytest.mark.slow, needs_browser]
AXE = Path(__file__).parent / "vendor" / "axe-core-4.11.0" / "axe.min.js"
BLOCKING = ("serious", "critical")


def violations(page) -> list[dict]:
    """axe's findings of serious or critical impact. axe is evaluated through the DevTools protocol,
    which the page's Content-Security-Policy does not apply to: the page itself never loads it."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    results = page.evaluate("async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in json.loads(results)["violations"] if v["impact"] in BLOCKING]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_answer_view_has_no_serious_violations(served, open_page, scheme):
    page = open_page(served.url, color_scheme=scheme)
    ask(page, OVERSPEED_QUESTION)
    wait_checked(page)
    claim(page, "supported").hover()  # the claim's details and the highlighted evidence are shown
    page.locator("#source-viewer mark.evidence.active").wait_for()
    assert violations(page) == []


def test_the_collections_view_has_no_serious_violations(served, open_page):
    page = open_page(f"{served.url}/#collections")
    page.locator('#collection-rows tr[data-collection="demo"] button').click()
    page.locator("#collection-detail .documents-table").wait_for()
    assert violations(page) == []


def test_the_phone_layout_has_no_serious_violations(served, open_page):
    page = open_page(served.url, viewport=PHONE)
    ask(page, OVERSPEED_QUESTION)
    wait_checked(page)
    assert violations(page) == []
