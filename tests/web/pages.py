"""What the browser tests do on the page, in the page's own terms: ask a question, wait for the check,
find the claims and the evidence."""

from __future__ import annotations

from pathlib import Path

TRACE = ".trace-text"
ANSWER = ".answer"


def ask(page, question: str, *, verify: str | None = None, collection: str = "demo") -> None:
    """Types the question and sends it with Enter, as a person would."""
    page.wait_for_selector(f'#ask-collection option[value="{collection}"]', state="attached")
    page.select_option("#ask-collection", collection)
    if verify is not None:
        page.select_option("#ask-verify", verify)
    page.fill("#question", question)
    page.press("#question", "Enter")


def wait_checked(page) -> None:
    """Until the answer is complete and checked (the verdict summary is drawn from the done event)."""
    page.wait_for_selector(".verdict")
    page.wait_for_function("() => document.querySelector('#turn .status').textContent.startsWith('Answered by')")


def claim(page, tone: str, where: str = ANSWER):
    return page.locator(f"{where} .claim.tone-{tone}")


def shot(page_or_locator, folder: Path, name: str, **options) -> Path:
    """A screenshot saved as a test artefact (``folder`` is the session's artefact folder)."""
    path = folder / f"{name}.png"
    page_or_locator.screenshot(path=str(path), **options)
    return path
