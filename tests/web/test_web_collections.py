"""Collections on the page: listed with their counts; a new one is created by its first upload, files
dropped onto the page with each file's progress and the job's state, a rejected file with its reason;
a document deleted; the counts follow."""

from __future__ import annotations

import pytest

from tests.web.browser import needs_browser
from tests.web.pages import shot

pytestmark = [pytest.mark.slow, needs_browser]

FACT = "The Glenbrook intake screen is raked every 36 hours by the night shift."


def row(page, name: str):
    return page.locator(f'#collection-rows tr[data-collection="{name}"]')


def test_the_collections_are_listed_with_their_counts(served, open_page):
    page = open_page(f"{served.url}/#collections")
    demo = row(page, "demo")
    demo.wait_for()
    assert demo.locator("td.documents").text_content() == "4"
    assert int(demo.locator("td.chunks").text_content()) > 4
    demo.locator("button").click()
    documents = page.locator("#collection-detail .documents-table tbody tr")
    documents.first.wait_for()
    assert sorted(documents.locator("th").all_text_contents()) == ["maintenance_log.csv", "oncall_runbook.md",
                                                                   "release_notes.txt", "safety_manual.pdf"]


def test_upload_into_a_new_collection_then_delete_a_document(served, open_page, artifacts):
    page = open_page(f"{served.url}/#collections")
    row(page, "demo").wait_for()
    page.fill("#new-collection-name", "intake")
    page.press("#new-collection-name", "Enter")
    assert "created by its first upload" in row(page, "intake").text_content()

    # Dropped onto the zone, as from a file manager (the key test uses the picker).
    dropped = page.evaluate_handle("""(fact) => {
      const files = new DataTransfer();
      files.items.add(new File([`# Intake\\n\\n${fact}\\n`], "intake.md", {type: "text/markdown"}));
      files.items.add(new File([], "empty.pdf", {type: "application/pdf"}));
      return files;
    }""", FACT)
    page.dispatch_event("#dropzone", "dragover", {"dataTransfer": dropped})
    assert "dragging" in page.locator("#dropzone").get_attribute("class")
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})

    batch = page.locator(".upload-batch").first
    page.wait_for_function("() => /: (succeeded|failed)/.test(document.querySelector('.upload-batch .job-state')"
                           ".textContent)", timeout=240_000)
    assert "succeeded" in batch.locator(".job-state").text_content()
    files = batch.locator(".upload-file")
    assert files.nth(0).get_attribute("data-status") == "ingested"
    assert files.nth(0).locator("progress").evaluate("(bar) => bar.value") == 1
    assert files.nth(1).get_attribute("data-status") == "rejected"
    assert "empty" in files.nth(1).locator(".file-reason").text_content()  # the server's reason, shown
    page.wait_for_function("() => document.querySelector('#collection-rows tr[data-collection=\"intake\"] "
                           "td.documents').textContent === '1'")
    shot(page, artifacts, "collections-upload")

    page.click('#collection-detail button[aria-label="Delete intake.md"]')
    page.click('#collection-detail button[aria-label="Confirm: delete intake.md"]')
    page.wait_for_function("() => document.querySelector('#collections-message').textContent.includes('Deleted')")
    assert "Deleted intake.md from intake" in page.locator("#collections-message").text_content()
    assert row(page, "intake").locator("td.documents").text_content() == "0"
    assert page.locator("#collection-detail").get_by_text("No documents.").is_visible()
