"""A server that requires API keys: the page asks for one, keeps it in this tab's sessionStorage only,
and says clearly what a 401, a 403 and a 429 mean; the page never goes blank."""

from __future__ import annotations

import pytest

from rag.settings import Settings
from tests.web.browser import needs_browser
from tests.web.served import ServedVerirag

pytestmark = [pytest.mark.slow, needs_browser]
BURST = 6  # requests a key may make at once; one more per minute after that


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, web_model):
    """A server with a read-only key for the collection ``demo``, and a small rate limit per key."""
    from api.state import key_store_for

    folder = tmp_path_factory.mktemp("web-keyed")
    store = key_store_for(Settings(data_dir=folder / "data"))
    try:
        read_key = store.create(["demo"], "read")[1]
    finally:
        store.close()
    env = {"VERIRAG_API_RATE_LIMIT_BURST": str(BURST), "VERIRAG_API_RATE_LIMIT_PER_MINUTE": "1"}
    with ServedVerirag(folder, web_model, open_mode=False, env=env) as server:
        server.read_key = read_key
        yield server


def test_the_page_asks_for_a_key_and_explains_401_403_and_429(keyed, open_page):
    page = open_page(keyed.url)
    for status in (401, 403, 429):  # the browser logs each refused request; they are the point here
        page.console.allow(f"the server responded with a status of {status}")
    dialog = page.locator("#key-dialog")
    dialog.wait_for()
    assert "requires an API key" in page.locator("#key-reason").text_content()

    page.fill("#key-input", "vrk_000000000000_not-a-real-key")
    page.press("#key-input", "Enter")
    page.wait_for_function("() => document.querySelector('#key-reason').textContent.includes('refused')")
    assert dialog.is_visible()

    page.fill("#key-input", keyed.read_key)
    page.click("#key-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#key-status').textContent.includes('held by this tab')")
    assert not dialog.is_visible()
    stored = page.evaluate("() => [sessionStorage.getItem('verirag.apiKey'), localStorage.length, document.cookie]")
    assert stored == [keyed.read_key, 0, ""]  # this tab only: nothing in localStorage or cookies

    page.click("nav.views >> text=Collections")
    page.fill("#new-collection-name", "demo")
    page.press("#new-collection-name", "Enter")
    page.set_input_files("#file-input", [{"name": "note.md", "mimeType": "text/markdown", "buffer": b"# A note\n"}])
    refusal = page.locator(".upload-batch .job-state")
    page.wait_for_function("() => document.querySelector('.upload-batch .job-state').textContent.includes('may not')")
    assert "scope" in refusal.text_content() or "write" in refusal.text_content()  # the server's reason, shown

    for _ in range(BURST + 4):  # a person clicking Refresh until the key's bucket is empty
        page.click("#collections-refresh")
        page.wait_for_timeout(150)
        if "Too many requests" in (page.locator("#notice").text_content() or ""):
            break
    notice = page.locator("#notice").text_content()
    assert "Too many requests" in notice and "Try again in" in notice
    assert page.locator("header.top").is_visible() and page.locator("#collection-rows").is_visible()  # not blank
